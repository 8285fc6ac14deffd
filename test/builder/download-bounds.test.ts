import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { OcimakeError } from '../../src/errors.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { captured } from '../helpers/capture.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 24, downloads: every download ends. An endless body is cut at its limit (ADD <url>:
// urlFileSize; RUN wget/curl: runFileSize), a Content-Length past the limit is refused before a
// byte is read, a server that drips is given up on, and credentials written into a URL are
// sent to that host only and never shown or kept.

let server: Server;
let base: string;
/** Bytes each path's answers managed to write before the client stopped reading. */
const sent = new Map<string, number>();
let seenAuth: string | undefined;
const file = Buffer.from('the private file\n');

function endless(res: ServerResponse, path: string): void {
  const chunk = Buffer.alloc(64 << 10, 0x61);
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  pumping(res, path, chunk);
}

/** Writes `chunk` for as long as the client reads, counting what was written. */
function pumping(res: ServerResponse, path: string, chunk: Buffer): void {
  const pump = () => {
    while (!res.destroyed) {
      sent.set(path, (sent.get(path) ?? 0) + chunk.length);
      if (!res.write(chunk)) break;
    }
  };
  res.on('drain', pump);
  pump();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/endless.bin') return endless(res, path);
    if (path === '/huge.bin') {
      res.writeHead(200, { 'content-length': String(10 * 2 ** 30) });
      pumping(res, path, Buffer.alloc(64 << 10));
      return;
    }
    if (path === '/drip.bin') {
      res.writeHead(200, { 'content-length': '100000' });
      const t = setInterval(() => { if (!res.destroyed) res.write('x'); }, 100);
      res.on('close', () => clearInterval(t));
      return;
    }
    if (path === '/auth/file') {
      seenAuth = req.headers.authorization;
      if (req.headers.authorization !== `Basic ${Buffer.from('deploy:s3cr3t-t0ken').toString('base64')}`) { res.writeHead(401).end(); return; }
      res.writeHead(200, { 'content-length': file.length }).end(file);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); });

const saved = { url: process.env.OCIMAKE_MAX_URL_SIZE, run: process.env.OCIMAKE_MAX_RUN_FILE_SIZE };
afterEach(() => {
  for (const [k, v] of [['OCIMAKE_MAX_URL_SIZE', saved.url], ['OCIMAKE_MAX_RUN_FILE_SIZE', saved.run]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function failure(p: Promise<unknown>): Promise<OcimakeError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(OcimakeError);
  return err as OcimakeError;
}

describe('when a server sends an endless body', () => {
  it('ADD <url> cuts it at urlFileSize, names the limit, and keeps nothing', async () => {
    process.env.OCIMAKE_MAX_URL_SIZE = '1MiB';
    const cacheDir = tempDir();
    const err = await failure(buildFrom(`FROM scratch\nADD ${base}/endless.bin /x\n`, {}, { cacheDir }));
    expect(err.code).toBe('LIMIT_EXCEEDED');
    expect(err.message).toMatch(/Dockerfile:2: .*endless\.bin: the server sent more than 1048576 bytes: past the limit urlFileSize \(1 MiB\)/);
    expect(err.hint).toMatch(/OCIMAKE_MAX_URL_SIZE/);
    // What the server wrote before we stopped: the limit and the sockets' buffers, not gigabytes.
    expect(sent.get('/endless.bin')).toBeGreaterThan(1 << 20);
    expect(sent.get('/endless.bin')!).toBeLessThan(16 << 20);
  });

  it('RUN wget cuts it at runFileSize while it downloads, not after', async () => {
    process.env.OCIMAKE_MAX_RUN_FILE_SIZE = '1MiB';
    const alpine = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`;
    sent.delete('/endless.bin');
    const err = await failure(buildFrom(`FROM ${alpine}\nRUN wget -q -O /x ${base}/endless.bin\n`));
    expect(err.message).toMatch(/past the limit runFileSize \(1 MiB\)/);
    expect(sent.get('/endless.bin')!).toBeLessThan(16 << 20);
  });

  it('refuses a Content-Length past the limit before reading the body', async () => {
    const err = await failure(buildFrom(`FROM scratch\nADD ${base}/huge.bin /x\n`));
    expect(err.message).toMatch(/huge\.bin: the server says the file is 10737418240 bytes: past the limit urlFileSize \(8 GiB\)/);
    expect(sent.get('/huge.bin') ?? 0).toBeLessThan(16 << 20);
  });
});

describe('when a server drips (Content-Length 100000, a byte every 100 ms)', () => {
  it('ADD <url> gives up once a whole window is slower than the floor', async () => {
    const err = await failure(buildFrom(`FROM scratch\nADD ${base}/drip.bin /x\n`, {}, { timeoutSeconds: 0.5 }));
    expect(err.message).toMatch(/slower than the 1024 bytes\/s floor/);
    expect(err.hint).toMatch(/--network-min-rate/);
  });
});

describe('when a URL carries credentials', () => {
  const url = () => base.replace('http://', 'http://deploy:s3cr3t-t0ken@');

  it('sends them to that host, and keeps them out of the history, the provenance inputs and the log', async () => {
    const r = await buildFrom(`FROM scratch\nADD ${url()}/auth/file /file\n`);
    expect(seenAuth).toBe(`Basic ${Buffer.from('deploy:s3cr3t-t0ken').toString('base64')}`);
    expect(flatten(r.layers).get('file')?.content).toBe(file.toString());
    const config = r.artifacts.configBytes.toString();
    expect(config).not.toContain('s3cr3t');
    expect(config).toContain(`ADD ${base.replace('http://', 'http://***@')}/auth/file /file`);
    expect(r.inputs.materials).toContainEqual({ uri: `${base.replace('http://', 'http://***@')}/auth/file`, digest: `sha256:${createHash('sha256').update(file).digest('hex')}` });

    // The CLI's build log and its error lines.
    const ctx = tempDir();
    writeFileSync(join(ctx, 'Dockerfile'), `FROM scratch\nADD ${url()}/auth/file /file\nADD ${url()}/auth/missing /missing\n`);
    const out = await captured(() => main(['build', '--progress', 'plain', '--cache-dir', tempDir(), ctx]));
    expect(out.value).toBe(1);
    expect(out.stderr).toMatch(/ADD http:\/\/\*\*\*@127\.0\.0\.1:\d+\/auth\/file \/file/);
    expect(out.stderr).toMatch(/^error: .*http:\/\/\*\*\*@127\.0\.0\.1:\d+\/auth\/missing/m);
    expect(out.stderr).not.toContain('s3cr3t');
  });

  it('refuses to send them over plain HTTP to another host', async () => {
    const err = await failure(buildFrom('FROM scratch\nADD http://deploy:s3cr3t@files.invalid/tool /tool\n'));
    expect(err.code).toBe('CREDENTIALS_INSECURE');
    expect(err.message).toMatch(/http:\/\/\*\*\*@files\.invalid\/tool: the URL carries credentials/);
    expect(err.message).not.toContain('s3cr3t');
  });
});
