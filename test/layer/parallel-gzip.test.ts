import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BLOCK, ParallelGzip } from '../../src/layer/parallel-gzip.js';
import { sha256 } from '../../src/oci/digest.js';
import { LAYER_FORMAT } from '../../src/layer/layer-cache.js';

// Issue 8: pigz-style parallel gzip. One standard gzip member; the same bytes whatever the
// number of threads and however the input is chunked.

async function gzipWith(data: Buffer, threads: number, chunk: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) chunks.push(data.subarray(i, i + chunk));
  await pipeline(Readable.from(chunks), new ParallelGzip(threads), new Writable({ write(c: Buffer, _e, cb) { parts.push(c); cb(); } }));
  return Buffer.concat(parts);
}

function sample(size: number): Buffer {
  // Compressible and not: text runs with random islands, like a tar of a node_modules tree.
  const out = Buffer.alloc(size);
  let i = 0;
  while (i < size) {
    const text = Buffer.from(`module.exports = function f${i % 977}(a, b) { return a + b * ${i % 13}; };\n`);
    const n = Math.min(text.length, size - i);
    text.copy(out, i, 0, n);
    i += n;
    if (i % 7 === 0 && i + 64 < size) { randomBytes(64).copy(out, i); i += 64; }
  }
  return out;
}

describe('parallel gzip', () => {
  it.each([0, 1, 1000, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 17])('round-trips %i bytes, identical for 1, 2 and 4 threads and any chunking', async (size) => {
    const data = sample(size);
    const one = await gzipWith(data, 1, 65_536);
    expect(gunzipSync(one).equals(data)).toBe(true);
    for (const [threads, chunk] of [[2, 1000], [4, 300_000], [2, BLOCK]] as const) {
      expect(sha256(await gzipWith(data, threads, chunk)), `${threads} threads, ${chunk}-byte chunks`).toBe(sha256(one));
    }
  });

  it('compresses about as well as one stream (the dictionaries carry the context over)', async () => {
    const data = sample(3 * 1024 * 1024);
    const par = await gzipWith(data, 2, 65_536);
    const { gzipSync } = await import('node:zlib');
    const single = gzipSync(data, { level: 6, memLevel: 9 });
    expect(par.length).toBeLessThan(single.length * 1.02);
  });
});

describe('layers written with parallel gzip', () => {
  it('have the same digest with 1 thread and with 3', async () => {
    const { BlobStore } = await import('../../src/store/blob-store.js');
    const { writeLayer } = await import('../../src/layer/tar-writer.js');
    const { tempDir } = await import('../helpers/tmp.js');
    const data = sample(2 * 1024 * 1024 + 5);
    const entries = [{ type: 'file' as const, path: 'big.bin', mode: 0o644, uid: 0, gid: 0, size: data.length, source: { kind: 'bytes' as const, data } }];
    const saved = process.env.OCIMAKE_GZIP_THREADS;
    try {
      process.env.OCIMAKE_GZIP_THREADS = '1';
      const a = await writeLayer(new BlobStore(tempDir()), entries, { mtime: 0 });
      process.env.OCIMAKE_GZIP_THREADS = '3';
      const b = await writeLayer(new BlobStore(tempDir()), entries, { mtime: 0 });
      expect(b.digest).toBe(a.digest);
      expect(b.diffId).toBe(a.diffId);
    } finally {
      if (saved === undefined) delete process.env.OCIMAKE_GZIP_THREADS; else process.env.OCIMAKE_GZIP_THREADS = saved;
    }
  });

  it('writes the bytes it always wrote (a layer digest changes only with the layer-cache format)', async () => {
    // Deterministic input: runs of pseudo-random bytes between text, 2.5 MB (several batches of blocks).
    const data = Buffer.alloc(2_500_000);
    let x = 12345;
    for (let i = 0; i < data.length; i++) { x = (x * 1103515245 + 12345) & 0x7fffffff; data[i] = (i >> 10) % 3 === 0 ? x >> 16 : 97 + ((i * 7) % 13); }
    // The pin and the format move together: cached records of a layer written the old way must
    // miss, or a warm build would give another digest than a cold one.
    // v2 (128 KiB blocks): sha256:eb4637f63c64055f59bde48fe412e56d053f5a7ee0bbc4abaa4c702e0dbcb02a
    expect(LAYER_FORMAT).toBe('ocimake-layer-v3');
    for (const threads of [1, 2]) expect(sha256(await gzipWith(data, threads, 65_536))).toBe('sha256:17b9ee07d58d8f00f3656543c7bb2a92133ffe824129e49b9e52744ed55261ea');
  });

  it('takes chunks through accept(), copied at once, so the caller may reuse its buffer', async () => {
    const data = sample(BLOCK * 9 + 123);
    const g = new ParallelGzip(2);
    const parts: Buffer[] = [];
    g.on('data', (c: Buffer) => parts.push(c));
    const done = new Promise((resolve) => g.on('end', resolve));
    const buf = Buffer.alloc(100_000);
    for (let at = 0; at < data.length; at += buf.length) {
      const n = data.copy(buf, 0, at, Math.min(at + buf.length, data.length));
      const wait = g.accept(buf.subarray(0, n));
      buf.fill(0xee); // reused at once
      if (wait) await wait;
    }
    g.end();
    await done;
    expect(sha256(Buffer.concat(parts))).toBe(sha256(await gzipWith(data, 1, 65_536)));
  });

  it('asks an accept() caller to wait while nobody reads its output', async () => {
    // Incompressible input and no reader: accept() must soon return a wait that does not settle
    // until something reads, with the output held bounded (a few MiB, plus the batches in flight).
    const g = new ParallelGzip(2);
    const chunk = randomBytes(1024 * 1024);
    let accepted = 0;
    let stalled = false;
    while (accepted < 64 && !stalled) {
      const wait = g.accept(chunk);
      accepted++;
      if (wait) stalled = await Promise.race([wait.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 300))]);
    }
    expect(stalled).toBe(true);
    expect(accepted).toBeLessThan(20);
    expect(g.readableLength).toBeLessThan(16 * 1024 * 1024);
    g.destroy();
  });
});

