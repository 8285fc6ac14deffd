import { OcimakeError } from '../../errors.js';
import { RunError } from '../errors.js';
import type { Command } from '../shell/state.js';
import { parseOpts } from './opts.js';

// date, natively, as busybox prints it in an image without a time zone (UTC): the build host's
// clock, as a RUN in a container sees it (so a layer that records it differs between builds, as
// with docker build), or the time given with -d @SECONDS or -d 'YYYY-MM-DD[ HH:MM[:SS]]'.
// An image with /etc/localtime or TZ names a zone ocimake does not read: refused.

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const p2 = (n: number) => String(n).padStart(2, '0');

export function strftime(fmt: string, d: Date): string {
  const dayOfYear = Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
  const h12 = d.getUTCHours() % 12 || 12;
  const f: Record<string, () => string> = {
    Y: () => String(d.getUTCFullYear()), y: () => p2(d.getUTCFullYear() % 100), C: () => p2(Math.floor(d.getUTCFullYear() / 100)),
    m: () => p2(d.getUTCMonth() + 1), d: () => p2(d.getUTCDate()), e: () => String(d.getUTCDate()).padStart(2, ' '),
    H: () => p2(d.getUTCHours()), M: () => p2(d.getUTCMinutes()), S: () => p2(d.getUTCSeconds()), I: () => p2(h12), p: () => (d.getUTCHours() < 12 ? 'AM' : 'PM'),
    j: () => String(dayOfYear).padStart(3, '0'), a: () => DAYS[d.getUTCDay()]!.slice(0, 3), A: () => DAYS[d.getUTCDay()]!, b: () => MONTHS[d.getUTCMonth()]!.slice(0, 3),
    h: () => MONTHS[d.getUTCMonth()]!.slice(0, 3), B: () => MONTHS[d.getUTCMonth()]!, u: () => String(d.getUTCDay() || 7), w: () => String(d.getUTCDay()),
    Z: () => 'UTC', z: () => '+0000', s: () => String(Math.floor(d.getTime() / 1000)), n: () => '\n', t: () => '\t', '%': () => '%',
    F: () => `${f.Y!()}-${f.m!()}-${f.d!()}`, T: () => `${f.H!()}:${f.M!()}:${f.S!()}`, D: () => `${f.m!()}/${f.d!()}/${f.y!()}`, R: () => `${f.H!()}:${f.M!()}`,
    N: () => String(d.getUTCMilliseconds() * 1_000_000).padStart(9, '0'),
  };
  return fmt.replace(/%(.)/g, (m, c: string) => {
    const g = f[c];
    if (!g) throw new OcimakeError('RUN_UNSUPPORTED', `date: the format %${c} is not supported natively`, { hint: `date's ${Object.keys(f).map((k) => `%${k}`).join(' ')} are` });
    return g();
  });
}

function parseWhen(s: string): Date {
  const at = /^@(-?\d+)$/.exec(s);
  if (at) return new Date(Number(at[1]) * 1000);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  if (m) return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)));
  throw new OcimakeError('RUN_UNSUPPORTED', `date -d '${s}' is not supported natively`, { hint: 'date -d @SECONDS and -d YYYY-MM-DD[ HH:MM[:SS]] are' });
}

export const dateCommand: Command = async (args, io, sh) => {
  const o = parseOpts('date', args, 'ud:RI', { utc: 'u', date: 'd', rfc: 'R', 'iso-8601': 'I' });
  if (o.rest.some((a) => !a.startsWith('+'))) throw new OcimakeError('RUN_UNSUPPORTED', 'date cannot set the clock', { hint: 'date [-u] [-d WHEN] [+FORMAT] is interpreted' });
  const tz = sh.vars.get('TZ');
  const local = (await sh.fs.resolve('/etc/localtime', true).catch(() => ({ node: undefined }))).node;
  if (!o.flags.has('u') && ((tz !== undefined && !/^(UTC0?|GMT0?|)$/.test(tz)) || local)) {
    throw new OcimakeError('RUN_UNSUPPORTED', 'date in a time zone (the image has /etc/localtime or TZ) is not supported natively', { hint: 'date -u is; or let the RUN execute (--isolation auto)' });
  }
  const d = o.values.has('d') ? parseWhen(o.values.get('d')!.at(-1)!) : new Date();
  if (Number.isNaN(d.getTime())) throw new RunError(`invalid date '${o.values.get('d')?.at(-1)}'`, 1);
  const fmt = o.rest[0]?.slice(1) ?? (o.flags.has('R') ? '%a, %d %b %Y %H:%M:%S %z' : o.flags.has('I') ? '%Y-%m-%d' : '%a %b %e %H:%M:%S %Z %Y');
  io.out(`${strftime(fmt, d)}\n`);
  return 0;
};
