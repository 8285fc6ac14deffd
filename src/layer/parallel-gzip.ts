import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { constants, crc32, deflateRawSync } from 'node:zlib';

// Parallel gzip, as pigz does it: the input is cut into fixed 128 KiB blocks; each block is
// deflated on its own (on a worker thread), primed with the 32 KiB before it as dictionary
// and ended with a sync flush, so the pieces join into one standard deflate stream inside
// one gzip member. The CRC-32 and length are computed over the input in order. The bytes
// depend on the input alone, never on how many threads ran: the block size is fixed, and a
// block's deflate depends only on the block and its dictionary.

export const BLOCK = 128 * 1024;
const DICT = 32 * 1024;
const OPTS = { memLevel: 9 } as const;
/** gzip header as zlib writes it: no name, mtime 0, OS unix (XFL as zlib sets it for the level). */
const header = (level: number) => Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, level === 9 ? 0x02 : level === 1 ? 0x04 : 0x00, 0x03]);

/** Deflates one block: what every thread (and the no-thread path) runs. */
export function deflateBlock(block: Uint8Array, dict: Uint8Array | undefined, last: boolean, level = 6): Buffer {
  return deflateRawSync(block, { ...OPTS, level, ...(dict && dict.length > 0 ? { dictionary: dict } : {}), finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH });
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { constants, deflateRawSync } = require('node:zlib');
parentPort.on('message', (m) => {
  try {
    const opts = { level: m.level, memLevel: 9, finishFlush: m.last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH };
    if (m.dict && m.dict.byteLength > 0) opts.dictionary = new Uint8Array(m.dict);
    const out = deflateRawSync(new Uint8Array(m.block), opts);
    const ab = out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
    parentPort.postMessage({ id: m.id, out: ab }, [ab]);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
});
`;

interface Job { id: number; resolve: (b: Buffer) => void; reject: (e: Error) => void }

/** A pool of deflate threads, shared by every layer written in this process; idle threads do not keep it alive. */
class DeflatePool {
  readonly #workers: Worker[] = [];
  readonly #idle: Worker[] = [];
  readonly #queue: { msg: { id: number; block: ArrayBuffer; dict: ArrayBuffer | undefined; last: boolean; level: number }; job: Job }[] = [];
  readonly #jobs = new Map<number, Job>();
  #next = 0;

  constructor(readonly size: number) {}

  run(block: Buffer, dict: Buffer | undefined, last: boolean, level: number): Promise<Buffer> {
    const id = this.#next++;
    const copy = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    return new Promise<Buffer>((resolve, reject) => {
      const job = { id, resolve, reject };
      this.#queue.push({ msg: { id, block: copy(block), dict: dict ? copy(dict) : undefined, last, level }, job });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let w = this.#idle.pop();
      if (!w && this.#workers.length < this.size) w = this.#spawn();
      if (!w) return;
      const { msg, job } = this.#queue.shift()!;
      this.#jobs.set(msg.id, job);
      w.ref();
      w.postMessage(msg, [msg.block, ...(msg.dict ? [msg.dict] : [])]);
    }
  }

  #spawn(): Worker {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (m: { id: number; out?: ArrayBuffer; error?: string }) => {
      const job = this.#jobs.get(m.id);
      this.#jobs.delete(m.id);
      w.unref();
      this.#idle.push(w);
      if (job) m.out ? job.resolve(Buffer.from(m.out)) : job.reject(new Error(`deflate failed: ${m.error}`));
      this.#pump();
    });
    w.on('error', (err) => { for (const j of this.#jobs.values()) j.reject(err); this.#jobs.clear(); });
    w.unref();
    this.#workers.push(w);
    return w;
  }
}

let pool: DeflatePool | undefined;

/** Threads used by default: the cores, at most 8 (OCIMAKE_GZIP_THREADS overrides; 1 deflates on the main thread). */
export function defaultThreads(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.OCIMAKE_GZIP_THREADS);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 64) : Math.min(availableParallelism(), 8);
}

/**
 * A gzip stream whose deflate runs in `threads` threads (1: on this thread). In flight are
 * at most 2 blocks per thread, so memory stays at a few MiB whatever the layer size.
 */
export class ParallelGzip extends Transform {
  readonly #threads: number;
  readonly #level: number;
  readonly #pending: Buffer[] = [];
  #pendingLength = 0;
  #prevTail: Buffer | undefined;
  #crc = 0;
  #length = 0;
  #chain: Promise<void> = Promise.resolve();
  #inFlight = 0;
  #headerSent = false;

  constructor(threads = defaultThreads(), level = 6) {
    super();
    this.#threads = threads;
    this.#level = level;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#crc = crc32(chunk, this.#crc);
    this.#length += chunk.length;
    this.#pending.push(chunk);
    this.#pendingLength += chunk.length;
    // Keep one block back: only at the end is it known which block is the last.
    while (this.#pendingLength > BLOCK) this.#emitBlock(this.#take(BLOCK), false);
    if (this.#inFlight >= this.#threads * 2) this.#chain.then(() => cb(), (err: Error) => cb(err));
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    this.#emitBlock(this.#take(this.#pendingLength), true);
    this.#chain.then(() => {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.#crc >>> 0, 0);
      trailer.writeUInt32LE(this.#length % 2 ** 32, 4);
      this.push(trailer);
      cb();
    }, (err: Error) => cb(err));
  }

  #take(n: number): Buffer {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingLength);
    const block = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#pending.length = 0;
    this.#pendingLength = rest.length;
    if (rest.length > 0) this.#pending.push(rest);
    return block;
  }

  #emitBlock(block: Buffer, last: boolean): void {
    // Every block but the last is BLOCK bytes, so each dictionary is a full 32 KiB.
    const dict = this.#prevTail;
    this.#prevTail = Buffer.from(block.subarray(Math.max(0, block.length - DICT)));
    this.#inFlight++;
    const compressed = this.#threads <= 1
      ? Promise.resolve().then(() => deflateBlock(block, dict, last, this.#level))
      : (pool ??= new DeflatePool(this.#threads)).run(block, dict, last, this.#level);
    const previous = this.#chain;
    this.#chain = previous.then(async () => {
      const out = await compressed;
      this.#inFlight--;
      if (!this.#headerSent) { this.push(header(this.#level)); this.#headerSent = true; }
      this.push(out);
    });
    this.#chain.catch((err: Error) => this.destroy(err));
  }
}
