import { entryIndexStore, type EntryIndexStore } from './entry-index.js';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Writable, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcimakeError } from '../errors.js';
import { limit, overLimit, type LimitName } from '../util/limits.js';
import { pidAlive, trackTemp } from '../util/temp-files.js';
import { digestAlgorithm, digestHex, isDigest, Sha256Counter, type Digest } from '../oci/digest.js';

/** A blob being written: bytes go to `stream`, then `commit` verifies and publishes. */
export interface BlobWriter {
  readonly stream: Writable;
  /** Verifies (when `expected` is given), fsyncs and renames into place; returns digest and size. */
  commit(expected?: { digest: string; size?: number }): Promise<{ digest: Digest; size: number }>;
  /** Removes the temporary file. Safe to call after a failed commit. */
  abort(): Promise<void>;
}

/**
 * A content-addressed blob directory laid out as in an OCI image layout
 * (`blobs/sha256/<hex>`). Writes go to a temporary file in the same directory tree and are
 * renamed into place only after their digest is verified, so a reader never sees a partial
 * blob and two writers of the same blob cannot corrupt it.
 */
export class BlobStore {
  readonly root: string;
  /** Entry indexes of the layers in this store: kept for the cache dir's store only (never in an output layout). */
  readonly entryIndex?: EntryIndexStore;
  #swept = false;

  constructor(root: string, opts: { entryIndex?: boolean } = {}) {
    this.root = root;
    if (opts.entryIndex) this.entryIndex = entryIndexStore(join(root, 'layer-index'));
  }

  /** The store of the cache dir: blobs, and the entry indexes of its layers. */
  static cache(root: string): BlobStore {
    return new BlobStore(root, { entryIndex: true });
  }

  /** The file path of a blob (which may not exist). */
  path(digest: string): string {
    if (!isDigest(digest)) throw new OcimakeError('DIGEST_INVALID', `invalid digest "${digest}"`);
    return join(this.root, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      await fs.access(this.path(digest));
      return true;
    } catch {
      return false;
    }
  }

  async size(digest: string): Promise<number> {
    return (await fs.stat(this.path(digest))).size;
  }

  /** A stream of the blob's bytes; fails with BLOB_UNKNOWN when absent. */
  open(digest: string, opts: { start?: number } = {}): Readable {
    const p = this.path(digest);
    const s = createReadStream(p, opts.start === undefined ? {} : { start: opts.start });
    return s;
  }

  async readBytes(digest: string, max?: { limit: LimitName; what: string }): Promise<Buffer> {
    try {
      if (max) {
        const { size } = await fs.stat(this.path(digest));
        if (size > limit(max.limit)) throw overLimit(max.limit, `${max.what} ${digest} is ${size} bytes`);
      }
      return await fs.readFile(this.path(digest));
    } catch (err) {
      if (err instanceof OcimakeError) throw err;
      throw new OcimakeError('BLOB_UNKNOWN', `blob ${digest} is not in ${this.root}`, { cause: err });
    }
  }

  /** A BlobSource over this store (its files can be hardlinked by outputs). */
  source(): { open(digest: string): Readable; localPath(digest: string): Promise<string | undefined>; entryIndex?: EntryIndexStore } {
    return {
      open: (d) => this.open(d),
      localPath: async (d) => ((await this.has(d)) ? this.path(d) : undefined),
      ...(this.entryIndex ? { entryIndex: this.entryIndex } : {}),
    };
  }

  /**
   * Puts an existing local blob file into this store by hardlinking it (same filesystem), or
   * by a verified copy. The source must already be verified content (it comes from a store).
   */
  async linkFrom(file: string, desc: { digest: string; size: number }): Promise<void> {
    if (await this.has(desc.digest)) return;
    const dest = this.path(desc.digest);
    await fs.mkdir(join(dest, '..'), { recursive: true });
    try {
      await fs.link(file, dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      await this.putStream(createReadStream(file), desc);
    }
  }

  /** Starts writing a new blob. */
  async writer(): Promise<BlobWriter> {
    const tmpDir = join(this.root, 'tmp');
    await fs.mkdir(tmpDir, { recursive: true });
    if (!this.#swept) { this.#swept = true; await sweepDeadWriters(tmpDir); }
    const tmp = join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    const untrack = trackTemp(tmp);
    const file = createWriteStream(tmp, { flags: 'wx' });
    const counter = new Sha256Counter();
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        counter.update(chunk);
        file.write(chunk, cb);
      },
      final(cb) {
        file.end(cb);
      },
      destroy(err, cb) {
        file.destroy();
        cb(err);
      },
    });
    const has = (digest: string) => this.has(digest);
    const pathOf = (digest: string) => this.path(digest);
    return {
      stream,
      async commit(expected) {
        if (!stream.writableFinished) await new Promise<void>((res, rej) => stream.end(() => res()).once('error', rej));
        await new Promise<void>((res) => (file.closed ? res() : file.once('close', () => res())));
        const digest = counter.digest();
        const size = counter.size;
        if (expected && (expected.digest !== digest || (expected.size !== undefined && expected.size !== size))) {
          await fs.rm(tmp, { force: true });
          throw new OcimakeError(
            'DIGEST_INVALID',
            `blob content does not match: expected ${expected.digest} (${expected.size ?? '?'} bytes), got ${digest} (${size} bytes)`,
          );
        }
        if (await has(digest)) {
          // Already stored (content-addressed): the new copy is identical; drop it.
          await fs.rm(tmp, { force: true });
          untrack();
          return { digest, size };
        }
        const fh = await fs.open(tmp, 'r');
        try { await fh.sync(); } finally { await fh.close(); }
        // Blobs are immutable; read-only files guard the hardlinks outputs share with the cache.
        await fs.chmod(tmp, 0o444);
        const dest = pathOf(digest);
        await fs.mkdir(join(dest, '..'), { recursive: true });
        await fs.rename(tmp, dest);
        untrack();
        return { digest, size };
      },
      async abort() {
        // Writes may still be in flight: their errors after a destroy are expected, not news.
        stream.on('error', () => {});
        file.on('error', () => {});
        stream.destroy();
        file.destroy();
        if (!file.closed) await new Promise<void>((res) => file.once('close', () => res()));
        await fs.rm(tmp, { force: true });
        untrack();
      },
    };
  }

  /** Stores bytes (small blobs: configs, manifests). */
  async putBytes(data: Uint8Array, expected?: { digest: string; size?: number }): Promise<{ digest: Digest; size: number }> {
    return this.putStream(Readable.from([Buffer.from(data)]), expected);
  }

  /** Stores a stream, verifying it when `expected` is given; nothing is kept on failure. */
  async putStream(src: Readable, expected?: { digest: string; size?: number }): Promise<{ digest: Digest; size: number }> {
    const w = await this.writer();
    try {
      await pipeline(src, w.stream);
      return await w.commit(expected);
    } catch (err) {
      await w.abort();
      throw err;
    }
  }
}

/** Removes partial blobs left in tmp/ by writers that died (named `<pid>-<random>`, that pid no longer running). */
async function sweepDeadWriters(tmpDir: string): Promise<void> {
  for (const name of await fs.readdir(tmpDir).catch(() => [] as string[])) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !pidAlive(pid)) await fs.rm(join(tmpDir, name), { force: true, recursive: true });
  }
}
