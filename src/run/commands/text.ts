import { OcimakeError } from '../../errors.js';
import { RunError } from '../errors.js';
import { writeFileAt } from '../shell/interp.js';
import { absPath, takeStdin, type Command, type ShellState } from '../shell/state.js';
import { eachOperand, parseOpts } from './opts.js';
import { alternationMayDiffer, posixRegExp } from './regex.js';

export async function readOperand(sh: ShellState, p: string, stdin: Buffer): Promise<Buffer> {
  if (p === '-') return takeStdin(stdin);
  const { node } = await sh.fs.resolve(absPath(sh, p), true);
  if (!node) throw new RunError(`can't open '${p}': No such file or directory`);
  if (node.type === 'directory') throw new RunError(`read error: Is a directory`);
  if (node.type !== 'file') throw new RunError(`can't open '${p}': not a regular file`);
  return sh.fs.bytes(node);
}

/** Backslash escapes of echo -e and printf %b; `\c` stops output. */
function escapes(s: string): { text: string; stop: boolean } {
  let stop = false;
  const text = s.replace(/\\(0[0-7]{0,3}|[0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)/gs, (m, c: string) => {
    if (stop) return '';
    if (c === 'c') { stop = true; return ''; }
    if (c.startsWith('x')) return String.fromCharCode(parseInt(c.slice(1), 16));
    if (/^[0-7]+$/.test(c)) return String.fromCharCode(parseInt(c, 8));
    const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', a: '\x07', b: '\b', e: '\x1b', f: '\f', v: '\v' };
    return map[c] ?? m;
  });
  const cut = stop ? text : text;
  return { text: cut, stop };
}

/** A string as its UTF-8 bytes, one char each: escapes (\\303) then make bytes, not characters, and widths count bytes, as in C. */
const asBytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

const echo: Command = async (args, io) => {
  let newline = true;
  let interpret = false;
  let i = 0;
  for (; i < args.length && /^-[neE]+$/.test(args[i]!); i++) {
    for (const ch of args[i]!.slice(1)) { if (ch === 'n') newline = false; else interpret = ch === 'e'; }
  }
  let text = asBytes(args.slice(i).join(' '));
  if (interpret) { const r = escapes(text); text = r.text; if (r.stop) newline = false; }
  io.out(Buffer.from(newline ? `${text}\n` : text, 'latin1'));
  return 0;
};

const printf: Command = async (args, io) => {
  const [format, ...rest] = (args[0] === '--' ? args.slice(1) : args).map(asBytes);
  if (format === undefined) throw new RunError('usage: printf FORMAT [ARGUMENT...]');
  let out = '';
  let k = 0;
  do {
    const before = k;
    let stop = false;
    out += format.replace(/%([-+ #0]*)(\d*)(?:\.(\d*))?([sdiouxXcbfFeEgG%])|\\(0[0-7]{0,3}|[0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)/gs, (m, flags: string, width: string, prec: string, conv: string, esc: string) => {
      if (stop) return '';
      if (esc !== undefined) return escapes(`\\${esc}`).text;
      if (conv === '%') return '%';
      const arg = rest[k++] ?? '';
      let s: string;
      switch (conv) {
        case 's': s = prec !== undefined ? arg.slice(0, Number(prec)) : arg; break;
        case 'b': { const r = escapes(arg); s = r.text; stop = r.stop; break; }
        case 'c': s = arg.slice(0, 1); break;
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': {
          const n = arg === '' ? 0 : /^'./.test(arg) ? arg.charCodeAt(1) : Number(arg);
          if (Number.isNaN(n)) throw new RunError(`invalid number '${arg}'`);
          s = formatFloat(n, conv, prec === undefined ? 6 : Number(prec || 0), flags);
          break;
        }
        default: {
          const n = arg === '' ? 0 : /^'./.test(arg) ? arg.charCodeAt(1) : Number(arg);
          if (!Number.isFinite(n)) throw new RunError(`invalid number '${arg}'`);
          const v = Math.trunc(n);
          s = conv === 'o' ? v.toString(8) : conv === 'x' ? v.toString(16) : conv === 'X' ? v.toString(16).toUpperCase() : String(v);
          if (flags.includes('+') && v >= 0 && (conv === 'd' || conv === 'i')) s = `+${s}`;
        }
      }
      const w = Number(width || 0);
      if (s.length < w) {
        if (flags.includes('-')) s = s.padEnd(w);
        else if (flags.includes('0') && !'sbc'.includes(conv)) { const sign = /^[-+ ]/.test(s) ? s[0]! : ''; s = sign + s.slice(sign.length).padStart(w - sign.length, '0'); } else s = s.padStart(w);
      }
      return s;
    });
    if (stop || k === before) break;
  } while (k < rest.length);
  io.out(Buffer.from(out, 'latin1'));
  return 0;
};

/** printf's %f, %e and %g, as C formats them. */
export function formatFloat(n: number, conv: string, prec: number, flags: string): string {
  if (!Number.isFinite(n)) return (n > 0 ? 'inf' : n < 0 ? '-inf' : 'nan')[conv === conv.toUpperCase() ? 'toUpperCase' : 'toLowerCase']();
  const exp = (x: string) => x.replace(/e([+-])(\d)$/, 'e$10$2');
  let s: string;
  const lower = conv.toLowerCase();
  if (lower === 'f') s = n.toFixed(prec);
  else if (lower === 'e') s = exp(n.toExponential(prec));
  else {
    const p = prec === 0 ? 1 : prec;
    const e = n === 0 ? 0 : Math.floor(Math.log10(Math.abs(n)));
    s = e < -4 || e >= p ? exp(n.toExponential(p - 1)) : n.toFixed(Math.max(0, p - 1 - e));
    if (!flags.includes('#') && s.includes('.')) s = s.replace(/0+(?=e|$)/, '').replace(/\.(?=e|$)/, '');
  }
  if (conv === conv.toUpperCase()) s = s.toUpperCase();
  if (n >= 0 && flags.includes('+')) s = `+${s}`;
  else if (n >= 0 && flags.includes(' ')) s = ` ${s}`;
  return s;
}

const cat: Command = async (args, io, sh) => {
  const o = parseOpts('cat', args, 'nbvteAu');
  for (const f of 'vteA') if (o.flags.has(f)) throw new OcimakeError('RUN_UNSUPPORTED', `cat -${f} is not supported natively`, { hint: 'cat -n and -b are; or let the RUN execute (--isolation auto)' });
  const files = o.rest.length === 0 ? ['-'] : o.rest;
  // -n numbers every line, -b the non-empty ones, across all the files, as busybox does.
  const number = o.flags.has('b') ? 'b' : o.flags.has('n') ? 'n' : undefined;
  let line = 0;
  let atStart = true;
  return eachOperand('cat', files, io, async (f) => {
    const data = await readOperand(sh, f, io.stdin);
    if (!number) { io.out(data); return; }
    let out = '';
    for (const piece of data.toString('latin1').split(/(?<=\n)/)) {
      if (piece === '') continue;
      if (atStart && !(number === 'b' && piece === '\n')) out += `${String(++line).padStart(6)}\t`;
      out += piece;
      atStart = piece.endsWith('\n');
    }
    io.out(Buffer.from(out, 'latin1'));
  });
};

const tee: Command = async (args, io, sh) => {
  const o = parseOpts('tee', args, 'ai', { append: 'a' });
  for (const f of o.rest) await writeFileAt(sh, f, io.stdin, o.flags.has('a'));
  io.out(io.stdin);
  return 0;
};

const basename: Command = async (args, io) => {
  const [p = '', suffix] = args;
  let b = p.replace(/\/+$/, '');
  b = b.slice(b.lastIndexOf('/') + 1) || (p.startsWith('/') ? '/' : '');
  if (suffix && b !== suffix && b.endsWith(suffix)) b = b.slice(0, -suffix.length);
  io.out(`${b}\n`);
  return 0;
};

const dirname: Command = async (args, io) => {
  const p = (args[0] ?? '').replace(/\/+$/, '');
  const i = p.lastIndexOf('/');
  io.out(`${i < 0 ? '.' : i === 0 ? '/' : p.slice(0, i).replace(/\/+$/, '') || '/'}\n`);
  return 0;
};

export const grep: Command = async (args, io, sh) => {
  const o = parseOpts('grep', args, 'qvEFicxwse:lhHno');
  const pats = o.values.get('e') ?? (o.rest.length > 0 ? [o.rest.shift()!] : []);
  if (pats.length === 0) throw new RunError('usage: grep [-qvEFicxw] PATTERN [FILE...]', 2);
  const syntax = o.flags.has('F') ? 'fixed' : o.flags.has('E') ? 'ere' : 'bre';
  // -w without look-behind, which V8's linear engine lacks: grep only asks whether a line matches.
  const wrap = (js: string) => {
    if (o.flags.has('w')) js = `(?:^|[^A-Za-z0-9_])(?:${js})(?:[^A-Za-z0-9_]|$)`;
    return o.flags.has('x') ? `^(?:${js})$` : js;
  };
  const res = pats.map((p) => posixRegExp(p, { syntax, icase: o.flags.has('i'), wrap, what: 'grep' }));
  // -o prints what matched, so how long a match is matters: an alternation POSIX and JavaScript
  // would end differently is refused, as sed's s/// (-w and -v with -o are too).
  const only = o.flags.has('o') ? res.map((r) => new RegExp(r.source, `${r.flags}g`)) : undefined;
  if (only && (o.flags.has('w') || o.flags.has('v') || only.some((r) => alternationMayDiffer(r.source)))) throw new OcimakeError('RUN_UNSUPPORTED', `grep -o ${o.flags.has('w') ? '-w' : o.flags.has('v') ? '-v' : 'with an alternation that POSIX and JavaScript match at different lengths'} is not supported natively`, { hint: 'grep -o with a plain pattern is; or let the RUN execute (--isolation auto)' });
  const files = o.rest.length === 0 ? ['-'] : o.rest;
  // As busybox: with more than one file (or -H, not -h) each line and count is prefixed by its file.
  const named = (o.flags.has('H') || files.length > 1) && !o.flags.has('h');
  let matched = false;
  let failed = false;
  for (const f of files) {
    let data: Buffer;
    try { data = await readOperand(sh, f, io.stdin); } catch (e) {
      if (!(e instanceof RunError)) throw e;
      if (!o.flags.has('s')) io.err(`grep: ${f}: No such file or directory\n`);
      failed = true;
      continue;
    }
    const shown = f === '-' ? '(standard input)' : f;
    const lines = data.toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    let count = 0;
    for (const [i, line] of lines.entries()) {
      if (res.some((r) => r.test(line)) === o.flags.has('v')) continue;
      count++;
      matched = true;
      if (o.flags.has('q')) return 0;
      if (o.flags.has('l')) break;
      const prefix = `${named ? `${shown}:` : ''}${o.flags.has('n') ? `${i + 1}:` : ''}`;
      if (only && !o.flags.has('c')) {
        // Each match on a line of its own, leftmost first (several patterns: by position).
        const hits = only.flatMap((r) => [...line.matchAll(r)].filter((m) => m[0] !== '')).sort((a, b) => a.index - b.index);
        for (const m of hits) io.out(`${prefix}${m[0]}\n`);
      } else if (!o.flags.has('c')) io.out(`${prefix}${line}\n`);
    }
    if (o.flags.has('l') && count > 0) io.out(`${shown}\n`);
    else if (o.flags.has('c')) io.out(`${named ? `${shown}:` : ''}${count}\n`);
  }
  return failed ? 2 : matched ? 0 : 1;
};

export const TEXT_COMMANDS: [string, Command][] = [
  ['echo', echo], ['printf', printf], ['cat', cat], ['tee', tee], ['basename', basename], ['dirname', dirname], ['grep', grep],
];
