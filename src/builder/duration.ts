import { OcimakeError } from '../errors.js';

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Parses a Go duration ("30s", "1m30s", "500ms") to nanoseconds, as HEALTHCHECK flags take it. */
export function parseDuration(s: string, flag: string): number {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (matched !== s.length || s === '') {
    throw new OcimakeError('DURATION_INVALID', `invalid duration "${s}" for ${flag}`, { hint: 'use Go durations such as 30s, 1m30s or 500ms' });
  }
  return Math.round(total);
}
