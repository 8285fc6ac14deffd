import { OcimakeError } from '../errors.js';
import { limit, overLimit, type LimitName } from '../util/limits.js';

/**
 * The most the client reads into memory from one answer. Blobs stream to disk and are
 * bounded by their descriptor's size instead. Figures as containers/image uses them
 * (manifests and configs 4 MiB, raised with OCIMAKE_MAX_MANIFEST_SIZE and
 * OCIMAKE_MAX_CONFIG_SIZE), smaller for what we only show or parse a field of.
 */
export const LIMITS = {
  get manifest(): number { return limit('manifestSize'); },
  get config(): number { return limit('configSize'); },
  /** Error bodies: only a summary is shown. */
  errorBody: 8 << 10,
  /** Token answers: a JWT with many scopes is a few KiB. */
  token: 64 << 10,
};

/** Counters a client keeps of what it read, so tests can assert bounds. */
export interface ReadCounters {
  requests: number;
  /** The largest body held in memory at once. */
  maxBuffered: number;
}

interface Body extends AsyncIterable<unknown> {
  destroy?(err?: Error): unknown;
  on?(event: 'error', fn: () => void): unknown;
  dump?(opts?: { limit: number }): Promise<void>;
}

/** Destroys a body without an unhandled 'error' event (a bare destroy can emit one). */
export function destroyQuietly(body: Body): void {
  body.on?.('error', () => {});
  body.destroy?.();
}

/**
 * Throws a body away: small ones are read to the end so the connection can be reused,
 * anything past 64 KiB is cut off.
 */
export async function discard(body: Body): Promise<void> {
  if (body.dump) await body.dump({ limit: 64 << 10 }).catch(() => {});
  else destroyQuietly(body);
}

/**
 * Reads a body into memory up to `limit` bytes. Past it, the body is destroyed and
 * either an error is thrown (`onOver: 'throw'`) or what was read so far is returned
 * (`'truncate'`, for error bodies that are only summarised).
 */
export async function readBounded(body: Body, limit: number, what: string, onOver: 'throw' | 'truncate' = 'throw', counters?: ReadCounters, limitName?: LimitName): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const b = c as Buffer;
    if (size + b.length > limit) {
      destroyQuietly(body);
      if (onOver === 'truncate') {
        chunks.push(b.subarray(0, limit - size));
        size = limit;
        break;
      }
      if (limitName) throw overLimit(limitName, `${what} is larger than ${formatBytes(limit)}`, 'a registry or proxy answered with something other than what was asked for, or the image was made to exhaust memory');
      throw new OcimakeError('SIZE_INVALID', `${what} is larger than ${formatBytes(limit)}, the most ocimake reads`, {
        hint: 'a registry or proxy answered with something other than what was asked for; check the registry address',
      });
    }
    chunks.push(b);
    size += b.length;
    if (counters && size > counters.maxBuffered) counters.maxBuffered = size;
  }
  return Buffer.concat(chunks, size);
}

export function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${+(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${+(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
