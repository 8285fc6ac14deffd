import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';

// Loaded with require, not import: an ESM import of node:http reads every export of the
// module, and Node 22+ exports WebSocket and friends from there through a getter that
// loads its bundled undici (about 20 ms of compiling on every run).
const nodeRequire = createRequire(import.meta.url);
const http = nodeRequire('node:http') as typeof Http;
const https = nodeRequire('node:https') as typeof Https;

// Registry traffic goes through Node's own http/https clients: their parser is native,
// where undici compiles a WebAssembly parser in every process (about 40 ms and 12 MB of a
// CLI run that often makes a handful of requests). What undici gave us is rebuilt here:
// pooled keep-alive connections, one idle timeout for connect, answer and each body chunk,
// and a body that can be thrown away while keeping its connection.

/** Pooled connections for one timeout and certificate policy. */
export interface HttpPool {
  readonly http: Http.Agent;
  readonly https: Https.Agent;
  /** How long a connection may stay silent (connecting, waiting for the answer, between body chunks). */
  readonly timeoutMs: number;
  /** The slowest a body may arrive, averaged over each `timeoutMs` (0: no floor). */
  readonly minBytesPerSecond: number;
}

/** A response body: a Readable that can also be drained to free its connection. */
export type ResponseBody = Http.IncomingMessage & {
  /** Reads and drops up to `limit` bytes (default 64 KiB) so the connection is reused; destroys a longer body. */
  dump(opts?: { limit: number }): Promise<void>;
};

export interface HttpResponse {
  statusCode: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: ResponseBody;
}

export interface HttpRequestOptions {
  method: string;
  headers: Record<string, string>;
  /** Bytes, or a stream that is piped and destroyed when the request fails. */
  body?: Buffer | string | Readable | undefined;
  pool: HttpPool;
}

/** Error codes of the three timeouts (retry.ts treats them as transient). */
export const TIMEOUT_CODES = ['HTTP_CONNECT_TIMEOUT', 'HTTP_HEADERS_TIMEOUT', 'HTTP_BODY_TIMEOUT'] as const;

/** The error code of a body that arrives slower than the floor (not transient: the server drips). */
export const TOO_SLOW_CODE = 'HTTP_BODY_TOO_SLOW';

const pools = new Map<string, HttpPool>();

const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];

/** True when this Node's agents take `proxyEnv` (22.21+, 24.5+; Node 20 ignores it). */
export function agentsTakeProxies(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 24 || (major === 24 && minor >= 5) || (major === 22 && minor >= 21);
}

let proxyWarned = false;

/**
 * The proxy settings agents get: HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case) from the
 * environment, as curl and Docker read them; Node's agents tunnel https through CONNECT and
 * honour NO_PROXY, to which loopback is added. Undefined when none is set, or when this Node
 * cannot use them (warned once).
 */
function proxyEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv | undefined {
  if (!PROXY_VARS.some((k) => env[k])) return undefined;
  if (agentsTakeProxies()) {
    // As Go's ProxyFromEnvironment (Docker, BuildKit, crane): loopback is never proxied.
    const noProxy = [env.NO_PROXY ?? env.no_proxy, 'localhost', '127.0.0.1', '::1'].filter((x) => x).join(',');
    return { ...env, NO_PROXY: noProxy, no_proxy: noProxy };
  }
  if (!proxyWarned) {
    proxyWarned = true;
    process.stderr.write(`warning: HTTP(S)_PROXY is set, but Node.js ${process.version} cannot send requests through a proxy; use Node.js 22.21+, 24.5+ or 26\n`);
  }
  return undefined;
}

/** A DNS lookup that answers `hosts` first (as /etc/hosts entries would), then asks the resolver. */
function hostsLookup(hosts: ReadonlyMap<string, string>): typeof dnsLookup {
  return ((hostname: string, options: LookupOptions, cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    const ip = hosts.get(hostname.toLowerCase());
    if (ip === undefined) return dnsLookup(hostname, options, cb as never);
    const family = isIP(ip);
    if (options.all) cb(null, [{ address: ip, family }]);
    else cb(null, ip, family);
  }) as typeof dnsLookup;
}

/** The shared pool for a timeout, rate floor and certificate policy (16 connections per host). */
export function poolFor(timeoutMs: number, verifyTls: boolean, minBytesPerSecond = 0, hosts?: ReadonlyMap<string, string>): HttpPool {
  const key = `${timeoutMs}/${verifyTls}/${minBytesPerSecond}/${hosts ? JSON.stringify([...hosts]) : ''}`;
  let p = pools.get(key);
  if (!p) {
    const proxies = proxyEnv();
    const common = { keepAlive: true, maxSockets: 16, scheduling: 'lifo' as const, ...(proxies ? { proxyEnv: proxies } : {}), ...(hosts?.size ? { lookup: hostsLookup(hosts) } : {}) };
    p = {
      http: new http.Agent(common),
      https: new https.Agent({ ...common, ...(verifyTls ? {} : { rejectUnauthorized: false }) }),
      timeoutMs,
      minBytesPerSecond,
    };
    pools.set(key, p);
  }
  return p;
}

/** Sends one request; resolves when the answer's headers are in. Network failures reject. */
export function httpRequest(url: URL, o: HttpRequestOptions): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const req = (secure ? https : http).request(url, { method: o.method, headers: o.headers, agent: secure ? o.pool.https : o.pool.http });
    let response: Http.IncomingMessage | undefined;
    let done = false;
    req.on('error', (err) => { if (!done) { done = true; reject(err); } });
    req.setTimeout(o.pool.timeoutMs, () => {
      const phase = response ? 'BODY' : req.socket && !req.socket.connecting ? 'HEADERS' : 'CONNECT';
      const err = Object.assign(new Error(`no data for ${o.pool.timeoutMs} ms (${phase.toLowerCase()})`), { code: `HTTP_${phase}_TIMEOUT` });
      if (response) response.destroy(err);
      else req.destroy(err);
    });
    req.on('response', (res) => {
      response = res;
      done = true;
      if (o.pool.minBytesPerSecond > 0) watchRate(res, o.pool);
      resolve({ statusCode: res.statusCode ?? 0, headers: flatHeaders(res.headers), body: withDump(res) });
    });
    const body = o.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      body.on('error', (err) => req.destroy(err));
      req.on('close', () => { if (!body.readableEnded) body.destroy(); });
      body.pipe(req);
    }
  });
}

/**
 * Destroys a body that arrives slower than the pool's floor over a whole window (as curl's
 * --speed-limit/--speed-time): a server that drips a byte every few seconds never trips the
 * idle timeout, and would hold a build for ever. A window that ends with bytes waiting unread
 * in the body's buffer is the reader's slowness (back-pressure), not the server's: it does
 * not count.
 */
function watchRate(res: Http.IncomingMessage, pool: HttpPool): void {
  const socket = res.socket;
  if (!socket) return;
  const windowMs = pool.timeoutMs;
  const floor = (pool.minBytesPerSecond * windowMs) / 1000;
  let last = socket.bytesRead;
  const t = setInterval(() => {
    if (res.readableEnded || res.destroyed) { clearInterval(t); return; }
    const got = socket.bytesRead - last;
    last = socket.bytesRead;
    if (res.readableLength > 0) return;
    if (got < floor) {
      clearInterval(t);
      res.destroy(Object.assign(new Error(`the server sent ${got} bytes in ${windowMs / 1000} s, slower than the ${pool.minBytesPerSecond} bytes/s floor`), { code: TOO_SLOW_CODE }));
    }
  }, windowMs);
  t.unref();
  res.once('close', () => clearInterval(t));
}

function flatHeaders(h: Http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function withDump(res: Http.IncomingMessage): ResponseBody {
  const body = Object.assign(res, { dump: async (_opts?: { limit: number }) => {} }) as ResponseBody;
  body.dump = async (opts = { limit: 64 << 10 }) => {
    body.on('error', () => {});
    if (body.readableEnded) return;
    const declared = Number(body.headers['content-length']);
    if (Number.isFinite(declared) && declared > opts.limit) { body.destroy(); return; }
    let n = 0;
    try {
      for await (const c of body) {
        n += (c as Buffer).length;
        if (n > opts.limit) { body.destroy(); return; }
      }
    } catch {
      /* a broken body is simply gone */
    }
  };
  return body;
}
