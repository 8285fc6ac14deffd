import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { crc32 } from 'node:zlib';

// Parallel gzip, as pigz does it: the input is cut into fixed 128 KiB blocks; each block is
// deflated on its own (on a worker thread), primed with the 32 KiB before it as dictionary
// and ended with a sync flush, so the pieces join into one standard deflate stream inside
// one gzip member. The CRC-32 and length are computed over the input in order. The bytes
// depend on the input alone, never on how many threads ran: the block size is fixed, and a
// block's deflate depends only on the block and its dictionary.

export const BLOCK = 128 * 1024;
const DICT = 32 * 1024;
/** gzip header as zlib writes it: no name, mtime 0, OS unix (XFL as zlib sets it for the level). */
const header = (level: number) => Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, level === 9 ? 0x02 : level === 1 ? 0x04 : 0x00, 0x03]);

/**
 * Deflates a batch: `count` blocks laid out after `dictLen` bytes of dictionary (the tail of
 * the block before the batch), each primed with the 32 KiB before it; the pieces, joined.
 * The same code runs on the threads (as source text) and on this thread.
 */
const DEFLATE_BATCH = `function deflateBatch(buf, dictLen, count, last, level, zlib) {
  const out = [];
  for (let j = 0; j < count; j++) {
    const start = dictLen + j * ${BLOCK};
    const end = Math.min(start + ${BLOCK}, buf.length);
    const opts = { level, memLevel: 9, finishFlush: last && j === count - 1 ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH };
    if (start > 0) opts.dictionary = buf.subarray(Math.max(0, start - ${DICT}), start);
    out.push(zlib.deflateRawSync(buf.subarray(start, end), opts));
  }
  return out.length === 1 ? out[0] : Buffer.concat(out);
}`;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
${DEFLATE_BATCH}
parentPort.on('message', (m) => {
  try {
    const out = deflateBatch(Buffer.from(m.buf), m.dictLen, m.count, m.last, m.level, zlib);
    const ab = out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
    parentPort.postMessage({ id: m.id, out: ab }, [ab]);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
});
`;

const deflateBatchHere = new Function('buf', 'dictLen', 'count', 'last', 'level', 'zlib', `${DEFLATE_BATCH}\nreturn deflateBatch(buf, dictLen, count, last, level, zlib);`) as (buf: Buffer, dictLen: number, count: number, last: boolean, level: number, z: typeof zlib) => Buffer;

interface Job { id: number; resolve: (b: Buffer) => void; reject: (e: Error) => void }
interface Batch { id: number; buf: ArrayBuffer; dictLen: number; count: number; last: boolean; level: number }

/** A pool of deflate threads, shared by every layer written in this process; idle threads do not keep it alive. */
class DeflatePool {
  readonly #workers: Worker[] = [];
  readonly #idle: Worker[] = [];
  readonly #queue: { msg: Batch; job: Job }[] = [];
  readonly #jobs = new Map<number, Job>();
  #next = 0;

  constructor(readonly size: number) {}

  /** Deflates a batch; `buf` is handed over to the thread (transferred, not copied). */
  run(buf: ArrayBuffer, dictLen: number, count: number, last: boolean, level: number): Promise<Buffer> {
    const id = this.#next++;
    return new Promise<Buffer>((resolve, reject) => {
      this.#queue.push({ msg: { id, buf, dictLen, count, last, level }, job: { id, resolve, reject } });
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
      w.postMessage(msg, [msg.buf]);
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

/** Blocks per message to a thread: fewer, larger messages (a message cost about 0.2 ms). */
const BATCH = 4;

/**
 * A gzip stream whose deflate runs in `threads` threads (1: on this thread). Input is copied
 * once, into the buffer of the batch it belongs to (after the 32 KiB of dictionary before
 * it), and that buffer is handed to a thread as is. In flight are at most 2 batches per
 * thread, so memory stays at a few MiB whatever the layer size.
 */
export class ParallelGzip extends Transform {
  readonly #threads: number;
  readonly #level: number;
  /** The batch being filled: dictionary, then up to BATCH blocks. */
  #buf: Buffer;
  #dictLen = 0;
  #filled = 0;
  #crc = 0;
  #length = 0;
  #chain: Promise<void> = Promise.resolve();
  #inFlight = 0;
  #headerSent = false;

  constructor(threads = defaultThreads(), level = 6) {
    super();
    this.#threads = threads;
    this.#level = level;
    this.#buf = Buffer.allocUnsafe(BATCH * BLOCK);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#crc = crc32(chunk, this.#crc);
    this.#length += chunk.length;
    for (let at = 0; at < chunk.length;) {
      // A full batch is sent only when more input follows: the last block must be known as last.
      if (this.#filled === this.#dictLen + BATCH * BLOCK) this.#emit(false);
      const n = Math.min(chunk.length - at, this.#dictLen + BATCH * BLOCK - this.#filled);
      chunk.copy(this.#buf, this.#filled, at, at + n);
      this.#filled += n;
      at += n;
    }
    if (this.#inFlight >= this.#threads * 3) this.#chain.then(() => cb(), (err: Error) => cb(err));
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    this.#emit(true);
    this.#chain.then(() => {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.#crc >>> 0, 0);
      trailer.writeUInt32LE(this.#length % 2 ** 32, 4);
      this.push(trailer);
      cb();
    }, (err: Error) => cb(err));
  }

  /** Sends the batch being filled (all of it full blocks, unless it is the last), and starts the next with its tail as dictionary. */
  #emit(last: boolean): void {
    const data = this.#filled - this.#dictLen;
    const count = Math.max(1, Math.ceil(data / BLOCK));
    const buf = this.#buf;
    const dictLen = this.#dictLen;
    const filled = this.#filled;
    if (!last) {
      const next = Buffer.allocUnsafe(DICT + BATCH * BLOCK);
      buf.copy(next, 0, filled - DICT, filled);
      this.#buf = next;
      this.#dictLen = DICT;
      this.#filled = DICT;
    }
    this.#inFlight++;
    const batch = buf.subarray(0, filled);
    const compressed = this.#threads <= 1
      ? Promise.resolve().then(() => deflateBatchHere(batch, dictLen, count, last, this.#level, zlib))
      : (pool ??= new DeflatePool(this.#threads)).run(transferable(batch), dictLen, count, last, this.#level);
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

/** An ArrayBuffer holding exactly `b` that can be transferred: its own, when it is not Node's shared pool. */
function transferable(b: Buffer): ArrayBuffer {
  const ab = b.buffer as ArrayBuffer;
  return b.byteOffset === 0 && b.byteLength === ab.byteLength ? ab : ab.slice(b.byteOffset, b.byteOffset + b.byteLength);
}
