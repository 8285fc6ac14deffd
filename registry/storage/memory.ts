import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import type { Backend } from './backend.js';

/** In-memory storage: everything is lost on close. */
export class MemoryBackend implements Backend {
  readonly #data = new Map<string, Buffer>();
  #total = 0;

  /**
   * `maxBytes` caps what one write may hold (default 1 GiB), `maxTotalBytes` everything held
   * at once (default 2 GiB): past it, writes are refused, so memory never fills.
   */
  constructor(readonly maxBytes = 2 ** 30, readonly maxTotalBytes = 2 ** 31) {}

  /** Bytes held now. */
  get totalBytes(): number { return this.#total; }

  #room(): number {
    return this.maxTotalBytes - this.#total;
  }

  #set(key: string, b: Buffer): void {
    this.#total += b.length - (this.#data.get(key)?.length ?? 0);
    this.#data.set(key, b);
  }

  #delete(key: string): void {
    this.#total -= this.#data.get(key)?.length ?? 0;
    this.#data.delete(key);
  }

  async write(key: string, src: Readable | Buffer, check?: (digest: string, size: number) => void): Promise<{ digest: string; size: number }> {
    const buf = Buffer.isBuffer(src) ? src : await collect(src, Math.min(this.maxBytes, this.#room()));
    if (buf.length > this.#room()) throw full();
    const digest = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
    check?.(digest, buf.length);
    this.#set(key, buf);
    return { digest, size: buf.length };
  }

  async read(key: string): Promise<Buffer | undefined> {
    return this.#data.get(key);
  }

  async stream(key: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    const b = this.#data.get(key);
    if (!b) return undefined;
    return Readable.from([range ? b.subarray(range.start, range.end + 1) : b]);
  }

  async size(key: string): Promise<number | undefined> {
    return this.#data.get(key)?.length;
  }

  async list(prefix: string): Promise<string[]> {
    const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
    const out = new Set<string>();
    for (const k of this.#data.keys()) if (k.startsWith(p)) out.add(k.slice(p.length).split('/')[0]!);
    return [...out].sort();
  }

  async remove(key: string): Promise<void> {
    this.#delete(key);
    for (const k of [...this.#data.keys()]) if (k.startsWith(`${key}/`)) this.#delete(k);
  }

  async append(key: string, src: Readable, limit: number): Promise<number> {
    const prev = this.#data.get(key) ?? Buffer.alloc(0);
    const add = await collect(src, Math.min(Math.min(limit, this.maxBytes) - prev.length, this.#room()));
    const next = Buffer.concat([prev, add]);
    this.#set(key, next);
    return next.length;
  }

  async hash(key: string): Promise<{ digest: string; size: number } | undefined> {
    const b = this.#data.get(key);
    if (!b) return undefined;
    return { digest: `sha256:${createHash('sha256').update(b).digest('hex')}`, size: b.length };
  }
}

async function collect(src: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of src) {
    n += (c as Buffer).length;
    if (n > limit) {
      src.resume();
      throw new RegistryError('SIZE_INVALID', 'request body is larger than this registry takes (per blob, or its in-memory storage is full)', { status: 413 });
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function full(): RegistryError {
  return new RegistryError('SIZE_INVALID', 'the registry\'s in-memory storage is full', { status: 413 });
}
