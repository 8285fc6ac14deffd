import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/store/blob-store.js';
import { fetchBlob } from '../../src/remote/pull.js';
import { RegistryClient } from '../../src/remote/transport.js';
import { tempDir } from '../helpers/tmp.js';

const blob = randomBytes(256 * 1024);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}` as const;
const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

async function serve(cut: boolean, honourRange: boolean): Promise<{ host: string; ranges: string[] }> {
  const ranges: string[] = [];
  let first = true;
  const srv = createServer((req, res) => {
    const range = req.headers.range;
    ranges.push(range ?? '');
    if (range && honourRange) {
      const start = Number(/bytes=(\d+)-/.exec(range)![1]);
      res.writeHead(206, { 'content-length': blob.length - start, 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` });
      return res.end(blob.subarray(start));
    }
    res.writeHead(200, { 'content-length': blob.length });
    if (cut && first) {
      first = false;
      res.write(blob.subarray(0, 100_000), () => res.destroy());
      return;
    }
    res.end(blob);
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const a = srv.address();
  return { host: `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, ranges };
}

describe('fetchBlob', () => {
  it('resumes a cut download with a Range request and verifies the whole blob', async () => {
    const { host, ranges } = await serve(true, true);
    const store = new BlobStore(tempDir());
    await fetchBlob(new RegistryClient(host, { credentials: async () => undefined }), 'x/y', { mediaType: 'a', digest, size: blob.length }, store);
    expect(readFileSync(store.path(digest)).equals(blob)).toBe(true);
    expect(ranges[0]).toBe('');
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(ranges[1]!)![0])).toBeGreaterThan(0);
  });

  it('starts over when the registry ignores Range', async () => {
    const { host } = await serve(true, false);
    const store = new BlobStore(tempDir());
    await fetchBlob(new RegistryClient(host, { credentials: async () => undefined }), 'x/y', { mediaType: 'a', digest, size: blob.length }, store);
    expect(readFileSync(store.path(digest)).equals(blob)).toBe(true);
  });

  it('refuses a blob whose bytes do not match, keeping nothing', async () => {
    const { host } = await serve(false, true);
    const store = new BlobStore(tempDir());
    const wrong = `sha256:${'0'.repeat(64)}` as const;
    await expect(fetchBlob(new RegistryClient(host, { credentials: async () => undefined }), 'x/y', { mediaType: 'a', digest: wrong, size: blob.length }, store)).rejects.toThrow(/blob sha256:0+ from .* is corrupt/);
    expect(await store.has(wrong)).toBe(false);
  });
});

describe('fetchBlob, twice at once', () => {
  it('downloads a blob opened by two steps at the same time once (single-flight), and both get it', async () => {
    const { host, ranges } = await serve(false, true);
    const store = new BlobStore(tempDir());
    const client = new RegistryClient(host, { credentials: async () => undefined });
    const desc = { mediaType: 'a', digest, size: blob.length };
    await Promise.all([fetchBlob(client, 'x/y', desc, store), fetchBlob(client, 'x/y', desc, store), fetchBlob(client, 'x/z', desc, store)]);
    expect(ranges).toEqual(['']);
    expect(readFileSync(store.path(digest)).equals(blob)).toBe(true);
    // Once it is in the store, a later fetch asks the registry nothing.
    await fetchBlob(client, 'x/y', desc, store);
    expect(ranges).toEqual(['']);
  });
});
