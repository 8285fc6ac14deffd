import type { Readable } from 'node:stream';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { OcimakeError } from '../errors.js';
import { parseChallenge } from './challenge.js';
import { dockerCredentials, type CredentialSource, type Credentials } from './credentials.js';
import { apiHost, isLoopbackHost } from '../oci/reference.js';

/** How a client reaches registries. */
export interface TransportOptions {
  /** Hosts (host[:port]) that may be reached over plain HTTP besides loopback ones. */
  insecureRegistries?: readonly string[];
  credentials?: CredentialSource;
  /** Attempts for retryable failures (429, 5xx, connection resets); default 4. */
  retries?: number;
  userAgent?: string;
}

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
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string>;
  body: Dispatcher.ResponseData['body'];
  url: string;
}

const agent = new Agent({ keepAliveTimeout: 10_000, connections: 16 });
const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function flatHeaders(h: Dispatcher.ResponseData['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/**
 * One registry host: picks http or https, runs the Basic and Bearer auth flows (tokens
 * cached per scope), retries 429/5xx and connection resets with backoff and Retry-After
 * (only when the body can be replayed), and follows redirects without carrying the
 * Authorization header to another host.
 */
export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  readonly #opts: TransportOptions;
  readonly #tokens = new Map<string, string>();
  #basic: string | undefined;
  #creds: Promise<Credentials | undefined> | undefined;

  constructor(registry: string, opts: TransportOptions = {}) {
    this.registry = registry;
    this.#opts = opts;
    const host = apiHost(registry);
    const plain = isLoopbackHost(host) || (opts.insecureRegistries ?? []).includes(host) || (opts.insecureRegistries ?? []).includes(registry);
    this.baseUrl = `${plain ? 'http' : 'https'}://${host}`;
  }

  #credentials(): Promise<Credentials | undefined> {
    return (this.#creds ??= (this.#opts.credentials ?? dockerCredentials())(this.registry));
  }

  /** Sends a request, authenticating and retrying as needed. The caller consumes or dumps the body. */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    const scopeKey = [...req.scopes].sort().join(' ');
    let res = await this.#send(req, this.#authHeader(scopeKey));
    if (res.status === 401) {
      const challenge = res.headers['www-authenticate'] ?? '';
      await res.body.dump();
      const auth = await this.#authenticate(challenge, req.scopes, scopeKey);
      res = await this.#send(req, auth);
      if (res.status === 401 || res.status === 403) {
        const text = await res.body.text().catch(() => '');
        throw new OcimakeError(res.status === 401 ? 'UNAUTHORIZED' : 'DENIED', `${this.registry} refused ${req.method} ${req.path}: ${summarize(text) || res.status}`, {
          hint: (await this.#credentials()) ? 'check the credentials for this registry in your docker config' : `no credentials found for ${this.registry}: run "docker login ${this.registry}" or add it to ~/.docker/config.json`,
        });
      }
    }
    return res;
  }

  #authHeader(scopeKey: string): string | undefined {
    return this.#tokens.get(scopeKey) ?? this.#basic;
  }

  async #authenticate(header: string, scopes: readonly string[], scopeKey: string): Promise<string | undefined> {
    const { scheme, params } = parseChallenge(header);
    const creds = await this.#credentials();
    if (scheme === 'basic') {
      if (!creds?.username) {
        throw new OcimakeError('UNAUTHORIZED', `${this.registry} requires authentication`, {
          hint: `run "docker login ${this.registry}", or add credentials for it to ~/.docker/config.json (or $DOCKER_CONFIG)`,
        });
      }
      this.#basic = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
      return this.#basic;
    }
    if (scheme === 'bearer') {
      if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
      const token = await this.#fetchToken(params, scopes, creds);
      const value = `Bearer ${token}`;
      this.#tokens.set(scopeKey, value);
      return value;
    }
    throw new OcimakeError('UNAUTHORIZED', `${this.registry} asked for unsupported authentication "${header}"`);
  }

  async #fetchToken(params: Record<string, string>, scopes: readonly string[], creds: Credentials | undefined): Promise<string> {
    const realm = params.realm;
    if (!realm) throw new OcimakeError('UNAUTHORIZED', `${this.registry} sent a Bearer challenge without a realm`);
    const url = new URL(realm);
    const wanted = scopes.length > 0 ? scopes : params.scope ? [params.scope] : [];
    let res: Dispatcher.ResponseData;
    if (creds?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, service: params.service ?? '', scope: wanted.join(' '), client_id: 'ocimake' });
      res = await undiciRequest(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    } else {
      if (params.service) url.searchParams.set('service', params.service);
      for (const s of wanted) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (creds?.username) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
      res = await undiciRequest(url, { method: 'GET', dispatcher: agent, headers });
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      throw new OcimakeError(res.statusCode === 401 ? 'UNAUTHORIZED' : 'DENIED', `token request to ${url.origin}${url.pathname} for ${this.registry} failed with ${res.statusCode}: ${summarize(text)}`, {
        hint: creds ? 'check the credentials for this registry in your docker config' : `run "docker login ${this.registry}" or set credentials in ~/.docker/config.json`,
      });
    }
    const j = JSON.parse(text) as { token?: string; access_token?: string };
    const token = j.token ?? j.access_token;
    if (!token) throw new OcimakeError('UNAUTHORIZED', `token endpoint ${url.origin} returned no token`);
    return token;
  }

  async #send(req: RegistryRequest, authorization: string | undefined): Promise<RegistryResponse> {
    const retries = this.#opts.retries ?? 4;
    const replayable = req.body === undefined || Buffer.isBuffer(req.body) || typeof req.body === 'function';
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.#sendFollowingRedirects(req, authorization);
        if ((res.status === 429 || (res.status >= 500 && res.status !== 501)) && attempt < retries && replayable) {
          const wait = retryAfterMs(res.headers['retry-after']) ?? backoffMs(attempt);
          await res.body.dump();
          await sleep(wait);
          continue;
        }
        return res;
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (RETRYABLE_CODES.has(code) && attempt < retries && replayable) {
          await sleep(backoffMs(attempt));
          continue;
        }
        throw new OcimakeError('NETWORK', `${req.method} ${this.baseUrl}${req.path} failed: ${(err as Error).message}`, {
          cause: err,
          hint: this.baseUrl.startsWith('https') && /EPROTO|wrong version|SSL/i.test(String(err))
            ? `if ${this.registry} serves plain HTTP, pass --insecure-registry ${this.registry}`
            : `check that ${this.registry} is reachable from here (network, proxy, or a typo in the image name)`,
        });
      }
    }
  }

  async #sendFollowingRedirects(req: RegistryRequest, authorization: string | undefined): Promise<RegistryResponse> {
    let url = req.path.startsWith('http') ? new URL(req.path) : new URL(req.path, this.baseUrl);
    const origin = new URL(this.baseUrl).host;
    let method = req.method;
    for (let hop = 0; hop < 6; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.#opts.userAgent ?? 'ocimake', ...req.headers };
      if (authorization && url.host === origin) headers.authorization = authorization;
      const body = hop === 0 && req.body !== undefined ? (Buffer.isBuffer(req.body) ? req.body : req.body()) : undefined;
      const res = await undiciRequest(url, { method, headers, body, dispatcher: agent });
      const h = flatHeaders(res.headers);
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && h.location && (method === 'GET' || method === 'HEAD')) {
        await res.body.dump();
        url = new URL(h.location, url);
        if (res.statusCode === 303) method = 'GET';
        continue;
      }
      return { status: res.statusCode, headers: h, body: res.body, url: url.toString() };
    }
    throw new OcimakeError('NETWORK', `too many redirects for ${req.path} on ${this.registry}`);
  }
}

/** Reads a registry error body into an OcimakeError keeping the spec's code. */
export async function registryError(res: RegistryResponse, what: string, registry: string): Promise<OcimakeError> {
  const text = await res.body.text().catch(() => '');
  let code = `HTTP_${res.status}`;
  let message = summarize(text);
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    const first = j.errors?.[0];
    if (first?.code) code = first.code;
    if (first) message = [first.message, first.detail ? JSON.stringify(first.detail) : ''].filter(Boolean).join(' ');
  } catch {
    /* not JSON */
  }
  return new OcimakeError(code, `${what} on ${registry}: ${res.status} ${code}${message ? `: ${message}` : ''}`);
}

function summarize(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}

function retryAfterMs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.min(s * 1000, 60_000);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, Math.min(t - Date.now(), 60_000)) : undefined;
}

function backoffMs(attempt: number): number {
  return Math.min(200 * 2 ** attempt, 5_000) + Math.floor(Math.random() * 100);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
