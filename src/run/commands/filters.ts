import { RunError } from '../errors.js';
import type { Command } from '../shell/state.js';
import { parseOpts } from './opts.js';
import { readOperand } from './text.js';

// The text filters RUN lines pipe through (`sha256sum f | cut -d' ' -f1`, `ls | sort`,
// `head -n1`, `tr -d '\r'`, `wc -l`), with busybox's options and output. Input is whole
// (pipes run one side after the other), in bytes as Latin-1 so nothing is re-encoded.

/** The operands' bytes as one text (standard input for none or `-`). */
async function input(sh: Parameters<Command>[2], files: string[], stdin: Buffer): Promise<string> {
  const parts: Buffer[] = [];
  for (const f of files.length === 0 ? ['-'] : files) parts.push(await readOperand(sh, f, stdin));
  return Buffer.concat(parts).toString('latin1');
}

/** Lines of `text`, without the newline after the last. */
function lines(text: string): string[] {
  if (text === '') return [];
  const l = text.split('\n');
  if (l.at(-1) === '') l.pop();
  return l;
}

const out = (io: Parameters<Command>[1], ls: string[]) => { if (ls.length > 0) io.out(Buffer.from(`${ls.join('\n')}\n`, 'latin1')); };

/** head/tail -n N (also -N, and tail -n +N). */
function headTail(name: 'head' | 'tail'): Command {
  return async (args, io, sh) => {
    const argv = args.map((a) => (/^-\d+$/.test(a) ? `-n${a.slice(1)}` : a));
    const o = parseOpts(name, argv, 'n:qvc:');
    const bytes = o.values.get('c')?.at(-1);
    if (bytes !== undefined) {
      const data = Buffer.from(await input(sh, o.rest, io.stdin), 'latin1');
      const plus = name === 'tail' && bytes.startsWith('+');
      const c = Number(bytes.replace(/^[+-]/, ''));
      if (!Number.isInteger(c)) throw new RunError(`invalid number '${bytes}'`, 1);
      io.out(name === 'head' ? data.subarray(0, c) : plus ? data.subarray(Math.max(0, c - 1)) : c === 0 ? Buffer.alloc(0) : data.subarray(-c));
      return 0;
    }
    const spec = o.values.get('n')?.at(-1) ?? '10';
    const from = name === 'tail' && spec.startsWith('+');
    const n = Number(spec.replace(/^[+-]/, ''));
    if (!Number.isInteger(n)) throw new RunError(`invalid number '${spec}'`, 1);
    const ls = lines(await input(sh, o.rest, io.stdin));
    out(io, name === 'head' ? ls.slice(0, n) : from ? ls.slice(Math.max(0, n - 1)) : n === 0 ? [] : ls.slice(-n));
    return 0;
  };
}

const sort: Command = async (args, io, sh) => {
  const o = parseOpts('sort', args, 'rnuft:k:V');
  if (o.flags.has('t') || o.flags.has('k')) throw new RunError('-t and -k are not supported natively', 1);
  let ls = lines(await input(sh, o.rest, io.stdin));
  const key = (s: string) => (o.flags.has('f') ? s.toUpperCase() : s);
  const num = (s: string) => { const m = /^\s*(-?\d+(\.\d+)?)/.exec(s); return m ? Number(m[1]) : 0; };
  ls.sort((a, b) => {
    const c = o.flags.has('n') ? num(a) - num(b) || (a < b ? -1 : a > b ? 1 : 0) : key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
    return o.flags.has('r') ? -c : c;
  });
  if (o.flags.has('u')) ls = ls.filter((l, i) => i === 0 || key(l) !== key(ls[i - 1]!));
  out(io, ls);
  return 0;
};

const uniq: Command = async (args, io, sh) => {
  const o = parseOpts('uniq', args, 'cdu');
  const ls = lines(await input(sh, o.rest.slice(0, 1), io.stdin));
  const runs: [string, number][] = [];
  for (const l of ls) { if (runs.length > 0 && runs.at(-1)![0] === l) runs.at(-1)![1]++; else runs.push([l, 1]); }
  const kept = runs.filter(([, c]) => (o.flags.has('d') ? c > 1 : o.flags.has('u') ? c === 1 : true));
  out(io, kept.map(([l, c]) => (o.flags.has('c') ? `${String(c).padStart(7)} ${l}` : l)));
  return 0;
};

const wc: Command = async (args, io, sh) => {
  const o = parseOpts('wc', args, 'lwcmL');
  // busybox's columns, in its order: lines, words, bytes (-c) or characters (-m), longest line.
  const chosen = (['l', 'w', 'c', 'm', 'L'] as const).filter((k) => o.flags.has(k));
  const shown = chosen.length > 0 ? chosen : (['l', 'w', 'c'] as const);
  const files = o.rest.length === 0 ? ['-'] : o.rest;
  // One count of one input is printed bare; otherwise each is padded to 9 columns.
  const bare = shown.length === 1 && files.length === 1;
  const line = (c: Record<string, number>, name: string) => `${shown.map((k) => (bare ? String(c[k]) : String(c[k]).padStart(9))).join(' ')}${name === '-' ? '' : ` ${name}`}\n`;
  const total: Record<string, number> = { l: 0, w: 0, c: 0, m: 0, L: 0 };
  let status = 0;
  let text = '';
  for (const f of files) {
    let counts: Record<string, number>;
    try {
      const b = await readOperand(sh, f, io.stdin);
      const t = b.toString('latin1');
      let longest = 0;
      for (const l of t.split('\n')) longest = Math.max(longest, l.length);
      // Characters: the bytes that do not continue a UTF-8 sequence.
      let m = 0;
      for (const x of b) if ((x & 0xc0) !== 0x80) m++;
      counts = { l: (t.match(/\n/g) ?? []).length, w: t.split(/\s+/).filter((w) => w !== '').length, c: b.length, m, L: longest };
    } catch (e) {
      if (!(e instanceof RunError)) throw e;
      status = 1;
      const isDir = /Is a directory/.test(e.message);
      io.err(`wc: ${f}: ${isDir ? 'Is a directory' : 'No such file or directory'}\n`);
      if (!isDir) continue;
      counts = { l: 0, w: 0, c: 0, m: 0, L: 0 };
    }
    for (const k of Object.keys(total)) total[k] = k === 'L' ? Math.max(total[k]!, counts[k]!) : total[k]! + counts[k]!;
    text += line(counts, f);
  }
  if (files.length > 1) text += line(total, 'total');
  io.out(text);
  return status;
};

/** cut's list: 1,3-5,7- as a test on 1-based positions. */
function ranges(spec: string): (i: number) => boolean {
  const parts = spec.split(',').map((p) => {
    const m = /^(\d*)(-?)(\d*)$/.exec(p);
    if (!m || (m[1] === '' && m[3] === '')) throw new RunError(`invalid list '${spec}'`, 1);
    const lo = m[1] === '' ? 1 : Number(m[1]);
    const hi = m[2] === '' ? lo : m[3] === '' ? Infinity : Number(m[3]);
    return [lo, hi] as const;
  });
  return (i) => parts.some(([lo, hi]) => i >= lo && i <= hi);
}

const cut: Command = async (args, io, sh) => {
  const o = parseOpts('cut', args, 'd:f:c:b:s');
  const ls = lines(await input(sh, o.rest, io.stdin));
  const chars = o.values.get('c')?.at(-1) ?? o.values.get('b')?.at(-1);
  if (chars !== undefined) { const keep = ranges(chars); out(io, ls.map((l) => [...l].filter((_, i) => keep(i + 1)).join(''))); return 0; }
  const fields = o.values.get('f')?.at(-1);
  if (fields === undefined) throw new RunError('you must specify a list of bytes, characters, or fields', 1);
  const d = o.values.get('d')?.at(-1) ?? '\t';
  if (d.length !== 1) throw new RunError('the delimiter must be a single character', 1);
  const keep = ranges(fields);
  out(io, ls.filter((l) => !o.flags.has('s') || l.includes(d)).map((l) => (l.includes(d) ? l.split(d).filter((_, i) => keep(i + 1)).join(d) : l)));
  return 0;
};

/** tr's SET: ranges (a-z), escapes (\n \t \\ \r and octal), and [:alpha:]-style classes. */
function expandSet(set: string): string[] {
  const classes: Record<string, string> = { alpha: 'a-zA-Z', digit: '0-9', alnum: 'a-zA-Z0-9', upper: 'A-Z', lower: 'a-z', space: ' \t\n\r\v\f', blank: ' \t', punct: '!-/:-@[-`{-~', xdigit: '0-9A-Fa-f' };
  const s = set.replace(/\[:(\w+):\]/g, (m, c: string) => classes[c] ?? m)
    .replace(/\\([0-7]{1,3}|.)/g, (_m, e: string) => (/^[0-7]+$/.test(e) ? String.fromCharCode(parseInt(e, 8)) : ({ n: '\n', t: '\t', r: '\r', v: '\v', f: '\f', '\\': '\\' } as Record<string, string>)[e] ?? e));
  const outc: string[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i + 1] === '-' && i + 2 < s.length) {
      for (let c = s.charCodeAt(i); c <= s.charCodeAt(i + 2); c++) outc.push(String.fromCharCode(c));
      i += 2;
    } else outc.push(s[i]!);
  }
  return outc;
}

const tr: Command = async (args, io) => {
  const o = parseOpts('tr', args, 'dsc');
  if (o.flags.has('c')) throw new RunError('-c is not supported natively', 1);
  const [a = '', b] = o.rest;
  const from = expandSet(a);
  const to = b !== undefined ? expandSet(b) : [];
  const text = io.stdin.toString('latin1');
  let res = '';
  for (const ch of text) {
    const i = from.indexOf(ch);
    if (i < 0) { res += ch; continue; }
    if (o.flags.has('d')) continue;
    res += to.length > 0 ? to[Math.min(i, to.length - 1)]! : ch;
  }
  if (o.flags.has('s')) {
    const squeeze = new Set(b !== undefined && !o.flags.has('d') ? to : from);
    res = res.replace(/(.)\1+/gs, (m, c: string) => (squeeze.has(c) ? c : m));
  }
  io.out(Buffer.from(res, 'latin1'));
  return 0;
};

export const FILTER_COMMANDS: [string, Command][] = [
  ['head', headTail('head')], ['tail', headTail('tail')], ['sort', sort], ['uniq', uniq], ['wc', wc], ['cut', cut], ['tr', tr],
];
