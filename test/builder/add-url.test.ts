import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGitSource, urlFileName } from '../../src/remote/url-fetch.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { rawLayer } from '../helpers/layers.js';
import { tempDir } from '../helpers/tmp.js';
import { Cache } from '../../src/store/cache.js';

// ADD <url> <dest>, as Docker and BuildKit do it: fetched over HTTP on loopback, never
// unpacked, 0600 unless --chmod, named after the URL when the destination is a directory,
// checked against --checksum.

let server: Server;
let base: string;
const hits = new Map<string, number>();
let tarball: Buffer;
const script = Buffer.from('#!/bin/sh\necho hello\n');
let flaky = 0;
let tagged = Buffer.from('version 1\n');

beforeAll(async () => {
  tarball = await rawLayer([{ name: 'inside.txt', content: 'inside' }]);
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/files/tool.tar.gz') { res.writeHead(200, { 'content-length': tarball.length }).end(tarball); return; }
    if (path === '/files/run.sh' || path === '/') { res.writeHead(200, { 'content-length': script.length }).end(script); return; }
    if (path === '/flaky/run.sh') {
      // Busy once, then answers.
      if (flaky++ === 0) { res.writeHead(503).end('busy'); return; }
      res.writeHead(200, { 'content-length': script.length }).end(script);
      return;
    }
    if (path === '/tagged/file') {
      const etag = `"${createHash('sha256').update(tagged).digest('hex').slice(0, 12)}"`;
      if (req.headers['if-none-match'] === etag) { hits.set('304', (hits.get('304') ?? 0) + 1); res.writeHead(304, { etag }).end(); return; }
      res.writeHead(200, { etag, 'content-length': tagged.length }).end(tagged);
      return;
    }
    if (path === '/private/file') { res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end(); return; }
    if (path === '/moved') { res.writeHead(302, { location: '/files/run.sh' }).end(); return; }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => { await new Promise<void>((r) => server.close(() => r())); });

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('ADD <url>', () => {
  it('fetches into a directory under the URL\'s file name, 0600, not unpacked', async () => {
    const r = await buildFrom(`FROM scratch\nADD ${base}/files/tool.tar.gz /opt/\n`);
    const e = flatten(r.layers).get('opt/tool.tar.gz');
    expect(e).toMatchObject({ type: 'file', mode: 0o600, uid: 0, gid: 0, size: tarball.length });
    // The layer's file is the fetched bytes (the tar reader gives text: compare as text).
    expect(e!.content).toBe(tarball.toString('utf8'));
    expect(flatten(r.layers).has('opt/inside.txt')).toBe(false);
  });

  it('writes to a destination file with --chmod and --chown, following redirects', async () => {
    const r = await buildFrom(`FROM scratch\nADD --chmod=755 --chown=10:20 ${base}/moved /usr/local/bin/run\n`);
    expect(flatten(r.layers).get('usr/local/bin/run')).toMatchObject({ type: 'file', mode: 0o755, uid: 10, gid: 20, content: script.toString() });
  });

  it('checks --checksum, and names the line when it does not match', async () => {
    await expect(buildFrom(`FROM scratch\nADD --checksum=${sha(script)} ${base}/files/run.sh /run.sh\n`)).resolves.toBeDefined();
    const wrong = `sha256:${'0'.repeat(64)}`;
    await expect(buildFrom(`FROM scratch\nADD --checksum=${wrong} ${base}/files/run.sh /run.sh\n`)).rejects.toThrow(/Dockerfile:2: ADD .*sha256 is sha256:[0-9a-f]{64}, not sha256:0{64}/);
    await expect(buildFrom(`FROM scratch\nADD --checksum=md5:abc ${base}/files/run.sh /run.sh\n`)).rejects.toThrow(/invalid --checksum value/);
    await expect(buildFrom(`FROM scratch\nADD --checksum=${sha(script)} run.sh /run.sh\n`, { 'run.sh': 'x' })).rejects.toThrow(/--checksum applies to http\(s\) URL sources only/);
  });

  it('retries a busy server', async () => {
    const r = await buildFrom(`FROM scratch\nADD ${base}/flaky/run.sh /run.sh\n`);
    expect(flatten(r.layers).get('run.sh')?.content).toBe(script.toString());
    expect(hits.get('/flaky/run.sh')).toBe(2);
  });

  it('refuses what it cannot fetch or name, with the line', async () => {
    await expect(buildFrom(`FROM scratch\nADD ${base}/nothing/here.txt /x\n`)).rejects.toThrow(/Dockerfile:2: ADD .*answered 404/);
    await expect(buildFrom(`FROM scratch\nADD ${base}/ /opt/\n`)).rejects.toThrow(/its path has no file name/);
    // No credentials are sent, even when asked: one request, and the 401 is the error.
    await expect(buildFrom(`FROM scratch\nADD ${base}/private/file /x\n`)).rejects.toThrow(/answered 401/);
    expect(hits.get('/private/file')).toBe(1);
    await expect(buildFrom(`FROM scratch\nCOPY ${base}/files/run.sh /run.sh\n`)).rejects.toThrow(/COPY cannot fetch a URL/);
    await expect(buildFrom('FROM scratch\nADD https://github.com/moby/buildkit.git#v0.10.1 /src\n')).rejects.toThrow(/git repository .* not supported/);
  });

  it('fetches again on a rebuild, and takes the layer from the cache when the bytes are the same', async () => {
    const cacheDir = tempDir();
    const before = hits.get('/files/run.sh') ?? 0;
    const a = await buildFrom(`FROM scratch\nADD ${base}/files/run.sh /run.sh\n`, {}, { cacheDir });
    const b = await buildFrom(`FROM scratch\nADD ${base}/files/run.sh /run.sh\n`, {}, { cacheDir });
    expect(b.artifacts.digest).toBe(a.artifacts.digest);
    expect(hits.get('/files/run.sh')! - before).toBe(2);
  });

  it('asks again with the ETag it kept: a 304 downloads nothing, a new ETag gives the new file', async () => {
    const cacheDir = tempDir();
    const df = `FROM scratch\nADD ${base}/tagged/file /f\n`;
    const a = await buildFrom(df, {}, { cacheDir });
    const b = await buildFrom(df, {}, { cacheDir });
    expect(hits.get('304')).toBe(1);
    expect(b.artifacts.digest).toBe(a.artifacts.digest);
    expect(flatten(b.layers).get('f')?.content).toBe('version 1\n');
    tagged = Buffer.from('version 2\n');
    const c = await buildFrom(df, {}, { cacheDir });
    expect(hits.get('304')).toBe(1);
    expect(flatten(c.layers).get('f')?.content).toBe('version 2\n');
    // A kept copy damaged on disk (same size) is fetched again, without conditions.
    const { readdirSync, writeFileSync: write } = await import('node:fs');
    const { join: pjoin } = await import('node:path');
    const urls = pjoin(cacheDir, 'urls');
    const sub = readdirSync(urls)[0]!;
    const body = readdirSync(pjoin(urls, sub)).find((n) => !n.endsWith('.json'))!;
    write(pjoin(urls, sub, body), 'VERSION 2\n');
    const d = await buildFrom(df, {}, { cacheDir });
    expect(hits.get('304')).toBe(2);
    expect(flatten(d.layers).get('f')?.content).toBe('version 2\n');
    // --no-cache asks without conditions.
    await buildFrom(df, {}, { cacheDir, noCache: true });
    expect(hits.get('304')).toBe(2);
    const { cacheUsage } = await import('../../src/store/cache-prune.js');
    expect((await cacheUsage(Cache.at(cacheDir))).find((p) => p.part === 'urls')?.files).toBe(2);
  });

  it('names files and git sources as BuildKit does', () => {
    expect(urlFileName('https://example.com/a/b/tool-1.0.tar.gz?x=1')).toBe('tool-1.0.tar.gz');
    expect(urlFileName('https://example.com/a/my%20file')).toBe('my file');
    expect(urlFileName('https://example.com/')).toBeUndefined();
    expect(urlFileName('https://example.com')).toBeUndefined();
    expect(isGitSource('git@github.com:moby/buildkit.git')).toBe(true);
    expect(isGitSource('https://github.com/moby/buildkit.git#main')).toBe(true);
    expect(isGitSource('https://example.com/file.tar.gz')).toBe(false);
  });
});
