import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../errors.js';
import type { Backend } from './backend.js';

/**
 * Directory storage. Every write goes to a temporary file in `root/_tmp`, is hashed and
 * checked while it streams, fsynced, then renamed into place, so a kill -9 at any moment
 * leaves either the old content or the new, never a partial blob.
 */
export class FsBackend implements Backend {
  constructor(readonly root: string) {}

  #path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  async #tmp(): Promise<string> {
    const dir = join(this.root, '_tmp');
    await fs.mkdir(dir, { recursive: true });
    return join(dir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  async write(key: string, src: Readable | Buffer, check?: (digest: string, size: number) => void): Promise<{ digest: string; size: number }> {
    const tmp = await this.#tmp();
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({ transform(c: Buffer, _e, cb) { hash.update(c); size += c.length; cb(null, c); } });
    try {
      await pipeline(Buffer.isBuffer(src) ? Readable.from([src]) : src, counter, createWriteStream(tmp));
      const digest = `sha256:${hash.digest('hex')}`;
      check?.(digest, size);
      await fsyncFile(tmp);
      const dest = this.#path(key);
      await fs.mkdir(dirname(dest), { recursive: true });
      await fs.rename(tmp, dest);
      return { digest, size };
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async read(key: string): Promise<Buffer | undefined> {
    return fs.readFile(this.#path(key)).catch(() => undefined);
  }

  async stream(key: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    const p = this.#path(key);
    if ((await this.size(key)) === undefined) return undefined;
    return createReadStream(p, range ? { start: range.start, end: range.end } : {});
  }

  async size(key: string): Promise<number | undefined> {
    const st = await fs.stat(this.#path(key)).catch(() => undefined);
    return st?.isFile() ? st.size : undefined;
  }

  async list(prefix: string): Promise<string[]> {
    return (await fs.readdir(this.#path(prefix)).catch(() => [] as string[])).sort();
  }

  async remove(key: string): Promise<void> {
    await fs.rm(this.#path(key), { recursive: true, force: true });
  }

  async append(key: string, src: Readable, limit: number): Promise<number> {
    const p = this.#path(key);
    await fs.mkdir(dirname(p), { recursive: true });
    const before = (await this.size(key)) ?? 0;
    let n = before;
    const guard = new Transform({
      transform(c: Buffer, _e, cb) {
        n += c.length;
        if (n > limit) return cb(new RegistryError('SIZE_INVALID', 'upload is larger than allowed'));
        cb(null, c);
      },
    });
    await pipeline(src, guard, createWriteStream(p, { flags: 'a' }));
    return n;
  }

  async hash(key: string): Promise<{ digest: string; size: number } | undefined> {
    const s = await this.stream(key);
    if (!s) return undefined;
    const h = createHash('sha256');
    let size = 0;
    for await (const c of s) { h.update(c as Buffer); size += (c as Buffer).length; }
    return { digest: `sha256:${h.digest('hex')}`, size };
  }
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await fs.open(path, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}
