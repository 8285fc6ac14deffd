import { z } from 'zod';
import { OcimakeError } from '../errors.js';
import { discard, LIMITS, readBounded, type ReadCounters } from './bounded.js';
import type { Credentials } from './credentials.js';
import { httpRequest, type HttpPool, type HttpResponse } from './http.js';
import { isRetryableStatus, isTransient, networkError, RetryBudget, type RetryPolicy } from './retry.js';

// https://distribution.github.io/distribution/spec/auth/token/ : the token answer.
const TokenAnswer = z.object({
  token: z.string().min(1).optional(),
  access_token: z.string().min(1).optional(),
}).passthrough();

/** Where a Bearer challenge sends us, and what we may send there. */
export interface TokenRequest {
  registry: string;
  /** True when the registry itself is reached over plain HTTP (loopback or --insecure-registry). */
  registryInsecure: boolean;
  params: Record<string, string>;
  scopes: readonly string[];
  creds: Credentials | undefined;
  pool: HttpPool;
  policy: RetryPolicy;
  counters: ReadCounters;
  hint: string;
}

/**
 * Fetches a Bearer token from the challenge's realm (GET with Basic credentials, or POST
 * with an identity token), retrying transient failures within one budget and reading at
 * most LIMITS.token bytes. Credentials go to the realm only over https (unless the registry
 * itself is plain HTTP) and never to a private or link-local address for a public registry.
 */
export async function fetchToken(t: TokenRequest): Promise<string> {
  const realm = t.params.realm;
  if (!realm) throw new OcimakeError('UNAUTHORIZED', `${t.registry} sent a Bearer challenge without a realm`);
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new OcimakeError('UNAUTHORIZED', `${t.registry} sent a Bearer challenge with an invalid realm "${realm.slice(0, 200)}"`);
  }
  const sendsSecret = Boolean(t.creds?.username || t.creds?.identityToken);
  if (sendsSecret) checkRealm(url, t);
  const wanted = t.scopes.length > 0 ? t.scopes : t.params.scope ? [t.params.scope] : [];
  const budget = new RetryBudget(t.policy);
  for (;;) {
    let status: number;
    let text: string;
    try {
      let res: HttpResponse;
      if (t.creds?.identityToken) {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: t.creds.identityToken, service: t.params.service ?? '', scope: wanted.join(' '), client_id: 'ocimake' });
        res = await httpRequest(url, { method: 'POST', pool: t.pool, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
      } else {
        const u = new URL(url);
        if (t.params.service) u.searchParams.set('service', t.params.service);
        for (const s of wanted) u.searchParams.append('scope', s);
        const headers: Record<string, string> = {};
        if (t.creds?.username) headers.authorization = `Basic ${Buffer.from(`${t.creds.username}:${t.creds.password ?? ''}`).toString('base64')}`;
        res = await httpRequest(u, { method: 'GET', pool: t.pool, headers });
      }
      t.counters.requests++;
      status = res.statusCode;
      const retryAfter = res.headers['retry-after'];
      if (isRetryableStatus(status)) {
        await discard(res.body);
        if (await budget.wait(typeof retryAfter === 'string' ? retryAfter : undefined)) continue;
        throw new OcimakeError('UNAVAILABLE', `token request to ${url.origin}${url.pathname} for ${t.registry} failed with ${status} (${budget.describe()})`);
      }
      text = (await readBounded(res.body, status === 200 ? LIMITS.token : LIMITS.errorBody, `the token answer of ${url.origin}`, status === 200 ? 'throw' : 'truncate', t.counters)).toString('utf8');
    } catch (err) {
      if (err instanceof OcimakeError) throw err;
      if (isTransient(err) && (await budget.wait())) continue;
      throw networkError(`token request to ${url.origin}${url.pathname} for ${t.registry}`, err, budget, `check that ${url.host} is reachable from here`);
    }
    if (status !== 200) {
      throw new OcimakeError(status === 401 ? 'UNAUTHORIZED' : 'DENIED', `token request to ${url.origin}${url.pathname} for ${t.registry} failed with ${status}${errorSummary(text) ? `: ${errorSummary(text)}` : ''}`, { hint: t.hint });
    }
    let parsed: z.infer<typeof TokenAnswer>;
    try {
      parsed = TokenAnswer.parse(JSON.parse(text));
    } catch {
      throw new OcimakeError('UNAUTHORIZED', `token endpoint ${url.origin}${url.pathname} for ${t.registry} did not answer with a token (expected JSON with a string "token" or "access_token")`, {
        hint: 'the realm in the registry\'s WWW-Authenticate header may point at the wrong service',
      });
    }
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new OcimakeError('UNAUTHORIZED', `token endpoint ${url.origin}${url.pathname} for ${t.registry} returned no token`);
    return token;
  }
}

function checkRealm(url: URL, t: TokenRequest): void {
  if (url.protocol !== 'https:' && !t.registryInsecure) {
    throw new OcimakeError('DENIED', `${t.registry} sent its token realm to ${url.origin} over plain HTTP; ocimake does not send credentials there`, {
      hint: 'a registry reached over https must have an https token realm (or mark the registry --insecure-registry if it is yours)',
    });
  }
  if (!isPrivateHost(hostOf(t.registry)) && isPrivateHost(url.hostname)) {
    throw new OcimakeError('DENIED', `${t.registry} sent its token realm to the private address ${url.hostname}; ocimake does not send credentials for a public registry there`, {
      hint: 'this is how a hostile registry would reach services inside your network; use a registry you trust',
    });
  }
}

function hostOf(registry: string): string {
  return registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:\d+$/, '');
}

/** Loopback, RFC 1918, link-local, unique-local and `localhost` names, by literal only (no DNS). */
export function isPrivateHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 10 || a === 127 || a === 0 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
  }
  if (h.includes(':')) return h === '::1' || h === '::' || /^f[cd]/.test(h) || /^fe[89ab]/.test(h) || h.startsWith('::ffff:');
  return false;
}

/**
 * The words of an error answer: the message of a distribution `errors` list, an OAuth2
 * `error_description`, or `details`/`message`/`error`; the raw text (folded, cut) only when
 * it is none of these.
 */
export function errorSummary(text: string): string {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return /<html|<!doctype/i.test(text) ? 'an HTML page' : summarize(text);
  }
  if (!j || typeof j !== 'object') return summarize(text);
  const o = j as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? summarize(v) : undefined);
  if (Array.isArray(o.errors) && o.errors.length > 0) {
    const e = o.errors[0] as Record<string, unknown> | null;
    const words = e && typeof e === 'object' ? str(e.message) ?? str(e.code) : undefined;
    if (words) return words;
  }
  return str(o.error_description) ?? str(o.details) ?? str(o.detail) ?? str(o.message) ?? str(o.error) ?? summarize(text);
}

export function summarize(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}
