import type { Mirrors } from './mirrors.js';
import type { Readable } from 'node:stream';
import { isErrorCode, OcimakeError } from '../errors.js';
import { parseChallenge } from './challenge.js';
import { dockerConfigPath, dockerCredentials, type CredentialSource, type Credentials } from './credentials.js';
import type { LimitName } from '../util/limits.js';
import { discard, LIMITS, readBounded, type ReadCounters } from './bounded.js';
import { isRetryableStatus, isTransient, networkError, RetryBudget, type RetryPolicy } from './retry.js';
import { errorSummary, fetchToken, summarize } from './token.js';
import { httpRequest, poolFor, TIMEOUT_CODES, type HttpPool, type ResponseBody } from './http.js';
import { apiHost, isLoopbackHost } from '../oci/reference.js';
import { redactUrlCredentials } from '../util/redact.js';

/** How a client reaches registries. */
export interface TransportOptions {
  /** Hosts (host[:port]) that may be reached over plain HTTP besides loopback ones. */
  insecureRegistries?: readonly string[];
  credentials?: CredentialSource;
  /** Retries for transient failures (429, 5xx, connection resets, cut bodies); default 5. */
  retries?: number;
  /** Back-off and Retry-After limits (see RetryPolicy). */
  retry?: RetryPolicy;
  /** Blobs of at least this many bytes upload in a resumable PATCH session (default 4 MiB). */
  chunkedUploadMin?: number;
  userAgent?: string;
  /**
   * Force a scheme. Unset: https, and for loopback and --insecure-registry hosts https
   * without certificate checks first, then plain HTTP when the host does not speak TLS (as Docker).
   */
  scheme?: 'http' | 'https';
  /** Seconds to wait for a connection, and for each answer or body chunk (default 30; OCIMAKE_NETWORK_TIMEOUT). */
  timeoutSeconds?: number;
  /**
   * The slowest a body may arrive, in bytes per second averaged over each timeout window
   * (default 1024; OCIMAKE_NETWORK_MIN_RATE; 0 turns the floor off).
   */
  minBytesPerSecond?: number;
  /** Called with a sentence when a request has waited a while for its answer. */
  onNotice?: (message: string) => void;
  /** Called when a blob has been downloaded whole. */
  onTransfer?: (e: TransferEvent) => void;
  /** Called as a blob's bytes go by (each chunk of a download or an upload), for progress. */
  onBytes?: (e: BytesEvent) => void;
  /** Names answered before DNS (`--add-host`, for what a RUN fetches): host → IP address. */
  hosts?: ReadonlyMap<string, string>;
  /** Registry mirrors for pulls (mirrors.ts), tried before the registry. */
  mirrors?: Mirrors;
}

/** A blob moving: how many of its bytes have gone by so far. */
export interface BytesEvent { direction: 'pull' | 'push'; digest: string; bytes: number; total: number }

/** A finished blob download, for progress: how many bytes and how long it took. */
export interface TransferEvent { direction: 'pull'; registry: string; repository: string; digest: string; bytes: number; ms: number }

/** A request body that can be sent again on retry: bytes, or a function that reopens a stream. */
export type ReplayableBody = Buffer | (() => Readable);

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query under the registry root, e.g. /v2/x/blobs/sha256:..., or an absolute URL. */
  path: string;
  headers?: Record<string, string>;
  body?: ReplayableBody;
  /** Token scopes this request needs, e.g. ["repository:acme/app:pull,push"]. */
  scopes: readonly string[];
  /** The retry budget of the operation this request is part of; a fresh one per request otherwise. */
  budget?: RetryBudget;
  /** False for requests that must not be sent twice as they are (upload PATCH/PUT into a session): the caller resumes instead. */
  retry?: boolean;
  /** True to send no credentials, even when challenged (ADD <url>): a 401 is returned as it is. */
  anonymous?: boolean;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string>;
  body: ResponseBody;
  url: string;
}

/** The default network timeout in seconds: OCIMAKE_NETWORK_TIMEOUT, else 30. */
export function defaultTimeoutSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.OCIMAKE_NETWORK_TIMEOUT;
  if (v === undefined || v === '') return 30;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) {
    throw new OcimakeError('CONFIG_INVALID', `OCIMAKE_NETWORK_TIMEOUT=${v} is not a number of seconds`, { hint: 'set it to a number between 1 and 86400, e.g. 60' });
  }
  return n;
}

/** The default rate floor in bytes per second: OCIMAKE_NETWORK_MIN_RATE, else 1024. */
export function defaultMinRate(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.OCIMAKE_NETWORK_MIN_RATE;
  if (v === undefined || v === '') return 1024;
  if (!/^\d+$/.test(v.trim())) {
    throw new OcimakeError('CONFIG_INVALID', `OCIMAKE_NETWORK_MIN_RATE=${v} is not a number of bytes per second`, { hint: 'set it to a whole number, e.g. 1024; 0 turns the floor off' });
  }
  return Number(v);
}

/** Hosts found to speak plain HTTP only, so later clients skip the TLS attempt. */
const plainHosts = new Set<string>();

/** True for the error of a TLS handshake with a server that answers in plain HTTP. */
export function isTlsMismatch(err: unknown): boolean {
  for (let e = err as { code?: string; message?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || e.code === 'EPROTO' || /wrong version number|packet length too long|http request/i.test(e.message ?? '')) return true;
  }
  return false;
}

function isTimeout(err: unknown): boolean {
  return (TIMEOUT_CODES as readonly string[]).includes((err as { code?: string }).code ?? '');
}

/**
 * One registry host: picks http or https, runs the Basic and Bearer auth flows (tokens
 * cached per scope), retries 429/5xx and broken connections within one budget per
 * operation (Retry-After honoured up to a cap), and follows redirects without carrying
 * the Authorization header to another host. Every body it reads into memory is bounded.
 */
export class RegistryClient {
  readonly registry: string;
  readonly #host: string;
  /** Loopback or --insecure-registry: TLS without certificate checks, falling back to HTTP. */
  readonly #insecure: boolean;
  readonly #timeoutMs: number;
  readonly #minRate: number;
  /** What this client read: request count and the largest body held in memory. */
  readonly counters: ReadCounters = { requests: 0, maxBuffered: 0 };
  readonly #opts: TransportOptions;
  readonly #policy: RetryPolicy;
  readonly #tokens = new Map<string, string>();
  #basic: string | undefined;
  #creds: Promise<Credentials | undefined> | undefined;

  constructor(registry: string, opts: TransportOptions = {}) {
    this.registry = registry;
    this.#opts = opts;
    this.#policy = { ...(opts.retries !== undefined ? { attempts: opts.retries + 1 } : {}), ...opts.retry };
    this.#host = apiHost(registry);
    this.#insecure = isLoopbackHost(this.#host) || (opts.insecureRegistries ?? []).includes(this.#host) || (opts.insecureRegistries ?? []).includes(registry);
    this.#timeoutMs = Math.round((opts.timeoutSeconds ?? defaultTimeoutSeconds()) * 1000);
    this.#minRate = opts.minBytesPerSecond ?? defaultMinRate();
  }

  /** The registry root URL; for an insecure host it turns to http:// once TLS was found missing. */
  get baseUrl(): string {
    const scheme = this.#opts.scheme ?? (this.#insecure && plainHosts.has(this.#host) ? 'http' : 'https');
    return `${scheme}://${this.#host}`;
  }

  get #pool(): HttpPool {
    return poolFor(this.#timeoutMs, !this.#insecure, this.#minRate, this.#opts.hosts);
  }

  /** Reports a finished transfer to whoever listens (progress). */
  transferred(e: Omit<TransferEvent, 'registry'>): void {
    this.#opts.onTransfer?.({ ...e, registry: this.registry });
  }

  /** Reports bytes of a blob going by (progress shows them while the transfer runs). */
  moving(e: BytesEvent): void {
    this.#opts.onBytes?.(e);
  }

  /** A retry budget under this client's policy, for an operation of several requests. */
  budget(): RetryBudget {
    return new RetryBudget(this.#policy);
  }

  #credentials(): Promise<Credentials | undefined> {
    return (this.#creds ??= (this.#opts.credentials ?? dockerCredentials())(this.registry));
  }

  #authHint(creds: Credentials | undefined): string {
    if (creds) return `check the credentials for ${this.registry} in ${creds.source ?? 'the credentials given to ocimake'}, or log in again with "ocimake login ${this.registry}"`;
    return `no credentials found for ${this.registry}: run "ocimake login ${this.registry}" (it writes ${dockerConfigPath()}, as docker login does), or set OCIMAKE_REGISTRY_AUTH`;
  }

  /** Sends a request, authenticating and retrying as needed. The caller consumes or dumps the body. */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    const scopeKey = [...req.scopes].sort().join(' ');
    const budget = req.budget ?? this.budget();
    let res = await this.#send(req, req.anonymous ? undefined : this.#authHeader(scopeKey), budget);
    if (res.status === 401 && !req.anonymous) {
      const challenge = res.headers['www-authenticate'] ?? '';
      await discard(res.body);
      const auth = await this.#authenticate(challenge, req.scopes, scopeKey);
      res = await this.#send(req, auth, budget);
      if (res.status === 401 || res.status === 403) {
        const text = (await readErrorBody(res, this.counters)).toString('utf8');
        throw new OcimakeError(res.status === 401 ? 'UNAUTHORIZED' : 'DENIED', `${this.registry} refused ${req.method} ${req.path.split('?')[0]}: ${errorSummary(text) || res.status}`, {
          hint: this.#authHint(await this.#credentials()),
        });
      }
    }
    return res;
  }

  /**
   * A request whose whole body is read into memory (manifests, indexes): at most `limit`
   * bytes, and a body cut off midway is asked for again within the same retry budget.
   */
  async requestBytes(req: RegistryRequest, limit: number, what: string, limitName?: LimitName): Promise<{ status: number; headers: Record<string, string>; bytes: Buffer; url: string }> {
    const budget = req.budget ?? this.budget();
    for (;;) {
      const res = await this.request({ ...req, budget });
      if (res.status < 200 || res.status >= 300) return { ...res, bytes: await readErrorBody(res, this.counters) };
      try {
        const bytes = await readBounded(res.body, limit, what, 'throw', this.counters, limitName);
        return { status: res.status, headers: res.headers, bytes, url: res.url };
      } catch (err) {
        if (!(err instanceof OcimakeError) && isTransient(err) && (await budget.wait())) continue;
        if (err instanceof OcimakeError) throw err;
        throw networkError(`reading ${what} from ${this.registry}`, err, budget, `check that ${this.registry} is reachable from here`);
      }
    }
  }

  #authHeader(scopeKey: string): string | undefined {
    return this.#tokens.get(scopeKey) ?? this.#basic;
  }

  async #authenticate(header: string, scopes: readonly string[], scopeKey: string): Promise<string | undefined> {
    const { scheme, params } = parseChallenge(header);
    const creds = await this.#credentials();
    if (scheme === 'basic') {
      if (!creds?.username) {
        throw new OcimakeError('UNAUTHORIZED', `${this.registry} requires authentication`, { hint: this.#authHint(undefined) });
      }
      this.#basic = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
      return this.#basic;
    }
    if (scheme === 'bearer') {
      if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
      const token = await fetchToken({
        registry: this.registry, registryInsecure: this.baseUrl.startsWith('http:'), params, scopes, creds,
        pool: this.#pool, policy: this.#policy, counters: this.counters, hint: this.#authHint(creds),
      });
      const value = `Bearer ${token}`;
      this.#tokens.set(scopeKey, value);
      return value;
    }
    throw new OcimakeError('UNAUTHORIZED', `${this.registry} asked for unsupported authentication "${summarize(header)}"`);
  }

  async #send(req: RegistryRequest, authorization: string | undefined, budget: RetryBudget): Promise<RegistryResponse> {
    const retry = req.retry !== false;
    let timeouts = 0;
    let triedPlain = false;
    for (;;) {
      const waiting = this.#noticeWhileWaiting(req);
      try {
        const res = await this.#sendFollowingRedirects(req, authorization);
        if (retry && isRetryableStatus(res.status)) {
          const wait = budget.next(res.headers['retry-after']);
          if (wait !== undefined) {
            await discard(res.body);
            await sleep(wait);
            continue;
          }
          if (budget.refusedWaitMs !== undefined) res.headers['x-ocimake-gave-up'] = budget.describe();
        }
        return res;
      } catch (err) {
        if (err instanceof OcimakeError) throw err;
        // Docker's rule for insecure registries: TLS first, plain HTTP when the host does not speak it.
        // Another client of the same host may have found that out while this request was under way.
        if (this.#insecure && !this.#opts.scheme && !triedPlain && isTlsMismatch(err) && !req.path.startsWith('http')) {
          plainHosts.add(this.#host);
          triedPlain = true;
          continue;
        }
        const timedOut = isTimeout(err);
        if (timedOut) timeouts++;
        // A registry that does not answer at all is given one more chance, not the whole budget.
        if (retry && isTransient(err) && timeouts < 2) {
          const wait = budget.next();
          if (wait !== undefined) {
            await sleep(wait);
            continue;
          }
        }
        throw this.#networkFailure(req, err, budget, timedOut);
      } finally {
        clearInterval(waiting);
      }
    }
  }

  /** Says, every 10 s (a third of the timeout when shorter) until the answer starts, what this request is waiting for. */
  #noticeWhileWaiting(req: RegistryRequest): NodeJS.Timeout | undefined {
    const notice = this.#opts.onNotice;
    if (!notice) return undefined;
    const started = Date.now();
    const t = setInterval(() => {
      const s = Math.floor((Date.now() - started) / 1000);
      notice(`waiting for ${this.registry} to answer ${req.method} ${req.path.startsWith('http') ? redactUrlCredentials(req.path) : req.path.split('?')[0]} (${s} s; gives up after ${this.#timeoutMs / 1000} s without an answer, --network-timeout)`);
    }, Math.min(10_000, Math.max(50, this.#timeoutMs / 3)));
    t.unref();
    return t;
  }

  #networkFailure(req: RegistryRequest, err: unknown, budget: RetryBudget, timedOut: boolean): OcimakeError {
    const what = `${req.method} ${req.path.startsWith('http') ? redactUrlCredentials(req.path) : `${this.baseUrl}${req.path}`}`;
    if (timedOut) {
      return new OcimakeError('TIMEOUT', `${what}: ${this.registry} did not answer within ${this.#timeoutMs / 1000} s`, {
        cause: err, hint: `the registry accepted the connection but sent nothing; check that it is healthy, or wait longer with --network-timeout SECONDS (or OCIMAKE_NETWORK_TIMEOUT)`,
      });
    }
    if (this.baseUrl.startsWith('https') && isTlsMismatch(err)) {
      return new OcimakeError('TLS_MISMATCH', `${what}: ${this.registry} answered in plain HTTP where HTTPS was expected`, {
        cause: err, hint: `if ${this.registry} serves plain HTTP, pass --insecure-registry ${this.registry}`,
      });
    }
    return networkError(what, err, budget, `check that ${this.registry} is reachable from here (network, proxy, or a typo in the image name)`);
  }

  async #sendFollowingRedirects(req: RegistryRequest, authorization: string | undefined): Promise<RegistryResponse> {
    let url = req.path.startsWith('http') ? new URL(req.path) : new URL(req.path, this.baseUrl);
    const origin = new URL(this.baseUrl).host;
    let method = req.method;
    for (let hop = 0; hop < 6; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.#opts.userAgent ?? 'ocimake', ...req.headers };
      if (authorization && url.host === origin) headers.authorization = authorization;
      const body = hop === 0 && req.body !== undefined ? (Buffer.isBuffer(req.body) ? req.body : req.body()) : undefined;
      this.counters.requests++;
      const res = await httpRequest(url, { method, headers, body, pool: this.#pool });
      // A body that breaks after its reader gave up on it must not crash the process; readers
      // still see the error through the stream they iterate.
      res.body.on('error', () => {});
      const h = res.headers;
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && h.location && (method === 'GET' || method === 'HEAD')) {
        await discard(res.body);
        url = new URL(h.location, url);
        if (res.statusCode === 303) method = 'GET';
        continue;
      }
      return { status: res.statusCode, headers: h, body: res.body, url: url.toString() };
    }
    throw new OcimakeError('NETWORK', `too many redirects for ${redactUrlCredentials(req.path)} on ${this.registry}`);
  }
}

async function readErrorBody(res: RegistryResponse, counters?: ReadCounters): Promise<Buffer> {
  return readBounded(res.body, LIMITS.errorBody, 'an error body', 'truncate', counters).catch(() => Buffer.alloc(0));
}

/**
 * Reads a registry error answer (at most LIMITS.errorBody bytes) into an OcimakeError that
 * keeps the spec's code; says so when a Retry-After past the cap made the client give up.
 */
export async function registryError(res: RegistryResponse | { status: number; headers: Record<string, string>; bytes: Buffer }, what: string, client: Pick<RegistryClient, 'registry' | 'counters'>): Promise<OcimakeError> {
  const text = ('bytes' in res ? res.bytes : await readErrorBody(res, client.counters)).toString('utf8');
  let code = `HTTP_${res.status}`;
  let message = summarize(text);
  try {
    const j = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown; detail?: unknown }[] };
    const first = Array.isArray(j.errors) ? j.errors[0] : undefined;
    if (first && typeof first.code === 'string' && /^[A-Z_]{1,40}$/.test(first.code)) code = first.code;
    if (first) message = summarize([typeof first.message === 'string' ? first.message : '', first.detail ? JSON.stringify(first.detail) : ''].filter(Boolean).join(' '));
  } catch {
    /* not JSON */
  }
  const gaveUp = res.headers['x-ocimake-gave-up'];
  const hint = gaveUp ? `${gaveUp}; try again later` : res.status === 429 ? 'the registry is rate-limiting this client; try again later or authenticate' : undefined;
  return new OcimakeError(isErrorCode(code) ? code : 'REGISTRY_ERROR', `${what} on ${client.registry}: ${res.status} ${code}${message ? `: ${message}` : ''}`, hint ? { hint } : {});
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
