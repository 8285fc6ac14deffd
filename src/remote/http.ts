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

const pools = new Map<string, HttpPool>();

/** The shared pool for a timeout and certificate policy (16 connections per host). */
export function poolFor(timeoutMs: number, verifyTls: boolean): HttpPool {
  const key = `${timeoutMs}/${verifyTls}`;
  let p = pools.get(key);
  if (!p) {
    const common = { keepAlive: true, maxSockets: 16, scheduling: 'lifo' as const };
    p = {
      http: new http.Agent(common),
      https: new https.Agent({ ...common, ...(verifyTls ? {} : { rejectUnauthorized: false }) }),
      timeoutMs,
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
