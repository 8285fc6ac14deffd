import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { crc32 } from 'node:zlib';

// Parallel gzip, as pigz does it: the input is cut into fixed 256 KiB blocks; each block is
// deflated on its own, primed with the 32 KiB before it as dictionary and ended with a sync
// flush, so the pieces join into one standard deflate stream inside one gzip member. The
// CRC-32 and length are computed over the input in order. The bytes depend on the input
// alone, never on how many blocks ran at once: the block size is fixed, and a block's deflate
// depends only on the block and its dictionary (a test pins a digest).
// The blocks run on libuv's thread pool through zlib's async calls. Worker threads did the
// same work, but each is a V8 isolate (tens of MB), and every block was copied into a message:
// a 200 MB layer peaked at 289 MB on Node 24, against 173 MB now, in the same time.

// pigz's blocks are 128 KiB. Ours are twice that: each block costs a zlib object, a 32 KiB
// dictionary to prime and a trip to the pool, and at 256 KiB a 200 MB layer took 0.3 CPU-s and
// 0.3 s less (W6: 1.30-1.35x pigz -6 went to 1.16x), with slightly smaller output. Changing it
// changes the bytes of every large layer: bump layer-cache.ts's FORMAT with it.
export const BLOCK = 256 * 1024;
const DICT = 32 * 1024;
/** gzip header as zlib writes it: no name, mtime 0, OS unix (XFL as zlib sets it for the level). */
const header = (level: number) => Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, level === 9 ? 0x02 : level === 1 ? 0x04 : 0x00, 0x03]);

/** The deflate options of block `j` of a batch laid out after `dictLen` bytes of dictionary. */
function blockOptions(buf: Buffer, dictLen: number, j: number, last: boolean, level: number): { block: Buffer; opts: zlib.ZlibOptions } {
  const start = dictLen + j * BLOCK;
  const end = Math.min(start + BLOCK, buf.length);
  // The block is flushed by the call that takes it (`flush`), not by a second, empty one at its
  // end: one trip to the thread pool per block instead of two, and the same bytes.
  const flush = last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH;
  const opts: zlib.ZlibOptions = { level, memLevel: 9, chunkSize: BLOCK + 1024, flush, finishFlush: flush };
  if (start > 0) opts.dictionary = buf.subarray(Math.max(0, start - DICT), start);
  return { block: buf.subarray(start, end), opts };
}

const deflateRaw = promisify(zlib.deflateRaw) as (b: Buffer, o: zlib.ZlibOptions) => Promise<Buffer>;

/**
 * Deflates a batch: `count` blocks laid out after `dictLen` bytes of dictionary (the tail of
 * the block before the batch), each primed with the 32 KiB before it; the pieces, joined.
 * With `parallel`, the blocks run at once on libuv's thread pool (zlib's async calls: no
 * isolate per thread, no copy of the input); else one after the other on this thread.
 */
async function deflateBatch(buf: Buffer, dictLen: number, count: number, last: boolean, level: number, parallel: boolean): Promise<Buffer[]> {
  const jobs = Array.from({ length: count }, (_, j) => blockOptions(buf, dictLen, j, last && j === count - 1, level));
  return parallel ? await Promise.all(jobs.map((x) => deflateRaw(x.block, x.opts))) : jobs.map((x) => zlib.deflateRawSync(x.block, x.opts));
}

/** Blocks deflated at once by default: the cores, at most 8 (OCIMAKE_GZIP_THREADS overrides; 1 deflates on the main thread). */
export function defaultThreads(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.OCIMAKE_GZIP_THREADS);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 64) : Math.min(availableParallelism(), 8);
}

/** Blocks gathered into one buffer (after the dictionary they need) before they are deflated. */
const BATCH = 4;
/** Output waiting to be read past which accept() asks its caller to wait. */
const OUT_HIGH = 4 * 1024 * 1024;

/**
 * A gzip stream whose deflate runs `threads` blocks at once (1: on this thread). Input is
 * copied once, into the buffer of the batch it belongs to (after the 32 KiB of dictionary
 * before it), and the blocks are deflated from there. In flight are at most 2 batches per
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
  /** Batches sent and not yet pushed, oldest first: each settles once its pieces are pushed. */
  readonly #inFlight: Promise<void>[] = [];
  #headerSent = false;
  /** Resolves the wait of accept() when the reader asks for more. */
  #onRead: (() => void) | undefined;
  /** Batch buffers whose blocks are deflated, ready for reuse. */
  readonly #spare: Buffer[] = [];

  constructor(threads = defaultThreads(), level = 6) {
    super();
    this.#threads = threads;
    this.#level = level;
    this.#buf = Buffer.allocUnsafe(BATCH * BLOCK);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let wait: Promise<void> | undefined;
    try { wait = this.accept(chunk); } catch (err) { cb(err as Error); return; }
    if (wait) wait.then(() => cb(), (err: Error) => cb(err));
    else cb();
  }

  /**
   * Takes `chunk`, copied before this returns (so the caller may reuse its buffer; writeLayer
   * feeds the tar this way, from one read buffer). A promise when the caller should wait
   * before the next chunk: it settles once the oldest batch is out. Waiting for all of them
   * let the thread pool run dry at every wait.
   */
  accept(chunk: Buffer): Promise<void> | undefined {
    if (this.destroyed) throw this.errored ?? new Error('the gzip stream was closed');
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
    const deflating = this.#inFlight.length >= this.#threads * 2 ? this.#inFlight[0] : undefined;
    // Fed through accept(), nothing else holds the input back when the reader is slow: wait
    // until it reads again once OUT_HIGH of output is waiting.
    if (this.readableLength < OUT_HIGH) return deflating;
    const reading = new Promise<void>((resolve) => { this.#onRead = resolve; });
    return deflating ? Promise.all([deflating, reading]).then(() => {}) : reading;
  }

  override _read(size: number): void {
    this.#resume();
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#resume();
    cb(err);
  }

  /** Ends the wait of accept() for a reader, if there is one. */
  #resume(): void {
    const resume = this.#onRead;
    this.#onRead = undefined;
    resume?.();
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
      // Batch buffers are reused once their blocks are deflated: allocating one per batch made
      // V8 collect garbage about every 70 ms on a 200 MB layer (28 full collections).
      const next = this.#spare.pop() ?? Buffer.allocUnsafe(DICT + BATCH * BLOCK);
      buf.copy(next, 0, filled - DICT, filled);
      this.#buf = next;
      this.#dictLen = DICT;
      this.#filled = DICT;
    }
    const batch = buf.subarray(0, filled);
    const compressed = Promise.resolve().then(() => deflateBatch(batch, dictLen, count, last, this.#level, this.#threads > 1));
    const previous = this.#chain;
    this.#chain = previous.then(async () => {
      const out = await compressed;
      if (buf.length === DICT + BATCH * BLOCK) this.#spare.push(buf);
      if (!this.#headerSent) { this.push(header(this.#level)); this.#headerSent = true; }
      for (const piece of out) this.push(piece);
    });
    const done = this.#chain;
    this.#inFlight.push(done);
    done.then(() => { this.#inFlight.shift(); }, () => {});
    this.#chain.catch((err: Error) => this.destroy(err));
  }
}
