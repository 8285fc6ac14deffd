import { createServer, get, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentsTakeProxies } from '../../src/remote/http.js';
import { buildFrom, flatten } from '../helpers/build.js';

// HTTP_PROXY / HTTPS_PROXY, as Docker's Go clients read them: every request ocimake makes (here
// an ADD <url>) goes through the proxy, but those to loopback. A forwarding proxy on loopback
// records what it carried.
// Node 22.21+, 24.5+ and 26 can; on older Node a warning says the proxy is not used.

let origin: Server;
let proxy: Server;
const carried: string[] = [];
let originUrl: string;

beforeAll(async () => {
  origin = createServer((_q, r) => { r.writeHead(200, { 'content-length': 6 }).end('origin'); });
  // The proxy knows a name nobody else resolves: origin.test is the origin server.
  proxy = createServer((q, r) => {
    carried.push(q.url ?? '');
    const u = new URL(q.url ?? '');
    if (u.hostname === 'origin.test') u.host = `127.0.0.1:${(origin.address() as { port: number }).port}`;
    get(u, (res) => { r.writeHead(res.statusCode ?? 502, res.headers); res.pipe(r); }).on('error', () => r.writeHead(502).end());
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  originUrl = `http://127.0.0.1:${(origin.address() as { port: number }).port}`;
  // Before this worker's first request: the agents read the environment when they are made.
  process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
});
afterAll(async () => {
  delete process.env.HTTP_PROXY;
  await new Promise<void>((r) => proxy.close(() => r()));
  await new Promise<void>((r) => origin.close(() => r()));
});

describe('proxies from the environment', () => {
  it('knows which Node versions can use them', () => {
    expect(agentsTakeProxies('20.19.0')).toBe(false);
    expect(agentsTakeProxies('22.20.0')).toBe(false);
    expect(agentsTakeProxies('22.21.0')).toBe(true);
    expect(agentsTakeProxies('24.4.1')).toBe(false);
    expect(agentsTakeProxies('24.5.0')).toBe(true);
    expect(agentsTakeProxies('26.0.0')).toBe(true);
  });

  it.runIf(agentsTakeProxies())('sends requests through HTTP_PROXY, but never those to loopback (as Go\'s clients)', async () => {
    const r = await buildFrom('FROM scratch\nADD http://origin.test/file /file\n');
    expect(flatten(r.layers).get('file')?.content).toBe('origin');
    expect(carried).toEqual(['http://origin.test/file']);
    const direct = await buildFrom(`FROM scratch\nADD ${originUrl}/file /file\n`);
    expect(flatten(direct.layers).get('file')?.content).toBe('origin');
    expect(carried).toEqual(['http://origin.test/file']);
  });

  it.skipIf(agentsTakeProxies())('warns, on a Node that cannot, that the proxy is not used', async () => {
    const writes: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((c: string) => { writes.push(String(c)); return true; }) as typeof process.stderr.write;
    try {
      await buildFrom(`FROM scratch\nADD ${originUrl}/file /file\n`);
    } finally {
      process.stderr.write = write;
    }
    expect(writes.join('')).toMatch(/HTTP\(S\)_PROXY is set, but Node\.js v\d+\.\d+\.\d+ cannot send requests through a proxy/);
    expect(carried).toEqual([]);
  });
});
