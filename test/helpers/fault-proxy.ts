import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// A reverse proxy on loopback that stands in front of a registry and breaks requests the
// way real networks and overloaded registries do, on a seeded schedule:
//   503          the registry is busy
//   429          rate-limited, with Retry-After: 0
//   reset-before the connection dies before any answer
//   reset-during the answer starts, and the connection dies partway through its body
//   truncate     the body stops early and the connection closes cleanly
//   slow         the body arrives in small pieces with pauses
//   cut-upload   a request body (PATCH/PUT) is forwarded in part, then both sides are cut
// No fault hits the same method+path more than `maxConsecutive` times in a row, so a client
// with enough retries always gets through.

export const FAULTS = ['503', '429', 'reset-before', 'reset-during', 'truncate', 'slow', 'cut-upload'] as const;
export type Fault = (typeof FAULTS)[number];

export interface FaultProxyOptions {
  /** host:port of the registry behind. */
  upstream: string;
  seed: number;
  /** Share of requests that get a fault (0 to 1). */
  rate: number;
  maxConsecutive?: number;
  /** Decides the fault for a request outright (tests of giving up); undefined falls back to the schedule. */
  force?: (method: string, path: string) => Fault | 'none' | undefined;
}

export interface FaultProxy {
  host: string;
  close(): Promise<void>;
  /** Faults injected so far, by kind, and requests seen. */
  stats: Record<Fault | 'requests', number>;
  setRate(rate: number): void;
  setForce(f: FaultProxyOptions['force']): void;
}

/** mulberry32: a small seeded PRNG, so a schedule can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const rand = prng(opts.seed);
  let rate = opts.rate;
  let force = opts.force;
  const maxConsecutive = opts.maxConsecutive ?? 2;
  const streak = new Map<string, number>();
  const stats = Object.fromEntries([...FAULTS, 'requests'].map((k) => [k, 0])) as FaultProxy['stats'];
  const sockets = new Set<Socket>();
  const [upHost, upPort] = [opts.upstream.slice(0, opts.upstream.lastIndexOf(':')), Number(opts.upstream.slice(opts.upstream.lastIndexOf(':') + 1))];

  function choose(req: IncomingMessage): Fault | 'none' {
    const path = (req.url ?? '').split('?')[0]!;
    const forced = force?.(req.method ?? '', path);
    if (forced) return forced;
    const key = `${req.method} ${path}`;
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0;
    const r = rand();
    const pick = Math.floor(rand() * 1e6);
    if (r >= rate || (streak.get(key) ?? 0) >= maxConsecutive) {
      streak.set(key, 0);
      return 'none';
    }
    // Faults of the body are weighted up where there is a body: they are the ones that
    // only a client that retries every read survives.
    const possible: Fault[] = ['503', '429', 'reset-before'];
    if (req.method === 'GET') possible.push('reset-during', 'truncate', 'slow', 'reset-during', 'truncate');
    if (hasBody) possible.push('cut-upload', 'cut-upload', 'cut-upload');
    streak.set(key, (streak.get(key) ?? 0) + 1);
    return possible[pick % possible.length]!;
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const fault = choose(req);
    if (fault !== 'none') stats[fault]++;
    if (fault === 'reset-before') { req.socket.destroy(); return; }
    if (fault === '503' || fault === '429') {
      req.resume();
      const body = JSON.stringify({ errors: [{ code: fault === '503' ? 'UNAVAILABLE' : 'TOOMANYREQUESTS', message: 'injected' }] });
      res.writeHead(Number(fault), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(fault === '429' ? { 'retry-after': '0' } : {}) });
      res.end(body);
      return;
    }
    const headers = { ...req.headers, host: opts.upstream };
    const up = httpRequest({ host: upHost, port: upPort, method: req.method, path: req.url, headers }, (ur) => {
      const h = { ...ur.headers };
      res.writeHead(ur.statusCode ?? 502, h);
      const total = Number(ur.headers['content-length'] ?? 0);
      if ((fault === 'reset-during' || fault === 'truncate') && total > 1) {
        // The headers go out on their own first, so the client has an answer in hand when
        // its body breaks (the case a retry of the request alone does not cover).
        res.flushHeaders();
        const cutAt = 1 + Math.floor(rand() * (total - 1));
        let sent = 0;
        ur.pause();
        setTimeout(() => ur.resume(), 10);
        ur.on('data', (c: Buffer) => {
          if (sent >= cutAt) return;
          const part = c.subarray(0, cutAt - sent);
          sent += part.length;
          res.write(part);
          if (sent >= cutAt) {
            ur.destroy();
            setTimeout(() => (fault === 'reset-during' ? res.socket?.destroy() : res.socket?.end()), 10);
          }
        });
        return;
      }
      if (fault === 'slow') {
        ur.on('data', (c: Buffer) => {
          ur.pause();
          (async () => {
            for (let i = 0; i < c.length; i += 16 << 10) {
              res.write(c.subarray(i, i + (16 << 10)));
              await new Promise((r) => setTimeout(r, 1));
            }
            ur.resume();
          })();
        });
        ur.on('end', () => res.end());
        return;
      }
      ur.pipe(res);
    });
    up.on('error', () => res.socket?.destroy());
    if (fault === 'cut-upload') {
      const total = Number(req.headers['content-length'] ?? 0);
      const cutAt = Math.floor(total / 2);
      let sent = 0;
      req.on('data', (c: Buffer) => {
        if (sent >= cutAt) return;
        const part = c.subarray(0, cutAt - sent);
        sent += part.length;
        up.write(part);
        if (sent >= cutAt) {
          // Let the registry take in what it got, then break both connections.
          setTimeout(() => { up.destroy(); req.socket.destroy(); }, 20);
        }
      });
      return;
    }
    req.pipe(up);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    stats,
    setRate: (r) => { rate = r; },
    setForce: (f) => { force = f; },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
