import { OcimakeError } from '../errors.js';
import { TOO_SLOW_CODE } from './http.js';

/** How a client retries; every field has a default (see DEFAULT_RETRY). */
export interface RetryPolicy {
  /** Attempts per operation, the first included (default 6). No answer resets the count. */
  attempts?: number;
  /** First back-off in ms, doubled per attempt up to `maxBackoffMs` (default 200). */
  baseMs?: number;
  /** Longest back-off between attempts (default 5 s). */
  maxBackoffMs?: number;
  /** Longest `Retry-After` honoured; a registry asking for more is given up on at once (default 10 s). */
  maxRetryAfterMs?: number;
}

export const DEFAULT_RETRY: Required<RetryPolicy> = { attempts: 6, baseMs: 200, maxBackoffMs: 5_000, maxRetryAfterMs: 10_000 };

/** Network error codes worth another attempt: the connection broke, it was not refused. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED',
  'HTTP_CONNECT_TIMEOUT', 'HTTP_HEADERS_TIMEOUT', 'HTTP_BODY_TIMEOUT', 'HTTP_BODY_SHORT',
]);

/** True for failures of the connection itself (reset, cut body, timeout), not for refusals. */
export function isTransient(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code && TRANSIENT_CODES.has(e.code)) return true;
    if (e.code === undefined && /other side closed|socket hang up|terminated|aborted/i.test(String((e as Error).message ?? ''))) return true;
  }
  return false;
}

/** True for answers worth another attempt: 429 and 5xx but 501. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501);
}

/**
 * One operation's retry budget. `next()` is asked after each failure and says how long to
 * wait before the next attempt, or returns undefined when the budget is spent. The count
 * only ever goes down: a budget shared by every request of an operation (a blob download,
 * an upload session) bounds the whole operation, whatever the registry answers.
 */
export class RetryBudget {
  readonly #p: Required<RetryPolicy>;
  #used = 1;
  /** Set when a Retry-After longer than the cap made us give up. */
  refusedWaitMs: number | undefined;

  constructor(policy: RetryPolicy = {}) {
    this.#p = { ...DEFAULT_RETRY, ...policy };
  }

  /** Attempts made so far. */
  get used(): number { return this.#used; }

  /** Ms to wait before another attempt, or undefined when no attempt is left. */
  next(retryAfter?: string): number | undefined {
    if (this.#used >= this.#p.attempts) return undefined;
    const asked = parseRetryAfter(retryAfter);
    if (asked !== undefined && asked > this.#p.maxRetryAfterMs) {
      this.refusedWaitMs = asked;
      return undefined;
    }
    const back = Math.min(this.#p.baseMs * 2 ** (this.#used - 1), this.#p.maxBackoffMs);
    this.#used++;
    return asked ?? back + Math.floor(Math.random() * Math.min(100, this.#p.baseMs));
  }

  /** Waits as `next()` says; false when the budget is spent. */
  async wait(retryAfter?: string): Promise<boolean> {
    const ms = this.next(retryAfter);
    if (ms === undefined) return false;
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    return true;
  }

  /** A sentence for an error message when the budget ran out. */
  describe(): string {
    if (this.refusedWaitMs !== undefined) return `the registry asked to retry after ${Math.round(this.refusedWaitMs / 1000)} s, longer than the ${Math.round(this.#p.maxRetryAfterMs / 1000)} s ocimake waits`;
    return `gave up after ${this.#used} attempts`;
  }
}

/** Retry-After in ms: delta-seconds or an HTTP date; undefined when absent or malformed. */
export function parseRetryAfter(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
}

/** An OcimakeError for a network failure that outlived its retries. */
export function networkError(what: string, err: unknown, budget: RetryBudget | undefined, hint: string): OcimakeError {
  const tail = budget && budget.used > 1 ? ` (${budget.describe()})` : '';
  if ((err as { code?: string }).code === TOO_SLOW_CODE) {
    hint = 'the server keeps the transfer alive but sends almost nothing; if the link is really that slow, lower the floor with --network-min-rate BYTES (or OCIMAKE_NETWORK_MIN_RATE; 0 turns it off)';
  }
  return new OcimakeError('NETWORK', `${what} failed: ${(err as Error).message ?? String(err)}${tail}`, { cause: err, hint });
}
