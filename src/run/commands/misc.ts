import { availableParallelism } from 'node:os';
import { OcimakeError } from '../../errors.js';
import { RunError } from '../errors.js';
import { absPath, type Command, type ShellState } from '../shell/state.js';
import { eachOperand, parseOpts } from './opts.js';
import { posixRegExp } from './regex.js';
import { grep, readOperand } from './text.js';

// The small applets real RUN lines use, with busybox's output: egrep, fgrep, which, readlink,
// realpath, unlink, base64, seq, nproc, getconf and expr.

const egrep: Command = (args, io, sh) => grep(['-E', ...args], io, sh);
const fgrep: Command = (args, io, sh) => grep(['-F', ...args], io, sh);

/** A file the shell could run: a regular file (through links) with an execute bit. */
async function runnable(sh: ShellState, path: string): Promise<boolean> {
  const { node } = await sh.fs.resolve(path, true).catch(() => ({ node: undefined }));
  return node?.type === 'file' && (node.ino.meta.mode & 0o111) !== 0;
}

const which: Command = async (args, io, sh) => {
  const o = parseOpts('which', args, 'a');
  let status = 0;
  for (const name of o.rest) {
    const found: string[] = [];
    if (name.includes('/')) { if (await runnable(sh, absPath(sh, name))) found.push(name); } else {
      for (const d of (sh.vars.get('PATH') ?? '').split(':')) {
        if (d === '' || !(await runnable(sh, absPath(sh, `${d}/${name}`)))) continue;
        found.push(`${d}/${name}`);
        if (!o.flags.has('a')) break;
      }
    }
    if (found.length === 0) status = 1;
    for (const f of found) io.out(`${f}\n`);
  }
  return status;
};

/** readlink LINK (its target), readlink -f and realpath (the canonical path, every link followed). */
function readlink(name: 'readlink' | 'realpath'): Command {
  return async (args, io, sh) => {
    const o = parseOpts(name, args, name === 'readlink' ? 'fnsvqe' : 'qse');
    const canonical = name === 'realpath' || o.flags.has('f') || o.flags.has('e');
    let status = 0;
    for (const a of o.rest) {
      if (canonical) {
        // -f: all but the last component must exist (busybox's realpath); -e: all of them.
        const r = await sh.fs.resolve(absPath(sh, a), true).catch(() => undefined);
        const parent = r ? await sh.fs.at(r.path.includes('/') ? r.path.slice(0, r.path.lastIndexOf('/')) : '') : undefined;
        if (!r || parent?.type !== 'directory' || ((o.flags.has('e') || name === 'realpath') && !r.node)) {
          if (name === 'realpath') io.err(`realpath: ${a}: No such file or directory\n`);
          status = 1;
          continue;
        }
        io.out(`/${r.path}${o.flags.has('n') ? '' : '\n'}`);
        continue;
      }
      const { node } = await sh.fs.resolve(absPath(sh, a), false).catch(() => ({ node: undefined }));
      if (node?.type !== 'symlink') { status = 1; continue; }
      io.out(`${node.target}${o.flags.has('n') ? '' : '\n'}`);
    }
    return status;
  };
}

const unlink: Command = async (args, io, sh) => {
  if (args.length !== 1) throw new RunError('usage: unlink FILE', 1);
  return eachOperand('unlink', args, io, async (a) => {
    const { path, node } = await sh.fs.resolve(absPath(sh, a), false);
    if (!node) throw new RunError(`can't remove file '${a}': No such file or directory`);
    if (node.type === 'directory') throw new RunError(`can't remove file '${a}': Is a directory`);
    await sh.fs.remove(path);
  });
};

/** base64 [-d] [-w COLS] [FILE]: encodes with lines of 76 (busybox's default), or decodes. */
const base64: Command = async (args, io, sh) => {
  const o = parseOpts('base64', args, 'dw:', { decode: 'd', wrap: 'w' });
  const data = await readOperand(sh, o.rest[0] ?? '-', io.stdin);
  if (o.flags.has('d')) {
    const text = data.toString('latin1').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) { io.out(Buffer.from(text.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64')); io.err('base64: invalid input\n'); return 1; }
    io.out(Buffer.from(text, 'base64'));
    return 0;
  }
  const wrap = Number(o.values.get('w')?.at(-1) ?? 76);
  if (!Number.isInteger(wrap) || wrap < 0) throw new RunError(`invalid number '${o.values.get('w')?.at(-1)}'`, 1);
  const enc = data.toString('base64');
  const lines = wrap === 0 ? [enc] : enc.match(new RegExp(`.{1,${wrap}}`, 'g')) ?? [''];
  io.out(`${lines.join('\n')}\n`);
  return 0;
};

/** seq [-s SEP] [-w] [FIRST [INCREMENT]] LAST, integers and decimals as busybox prints them. */
const seq: Command = async (args, io) => {
  const o = parseOpts('seq', args.map((a) => (/^-\d/.test(a) ? ` ${a}` : a)), 's:w');
  const nums = o.rest.map((a) => a.trim());
  if (nums.length < 1 || nums.length > 3) throw new RunError('usage: seq [-w] [-s SEP] [FIRST [INC]] LAST', 1);
  const [first, inc, last] = nums.length === 1 ? ['1', '1', nums[0]!] : nums.length === 2 ? [nums[0]!, '1', nums[1]!] : [nums[0]!, nums[1]!, nums[2]!];
  const vals = [first, inc, last].map(Number);
  if (vals.some((v) => !Number.isFinite(v))) throw new RunError(`invalid number '${[first, inc, last].find((v) => !Number.isFinite(Number(v)))}'`, 1);
  const [a, d, z] = vals as [number, number, number];
  if (d === 0) throw new RunError('increment must not be 0', 1);
  const places = Math.max(...[first, inc].map((s) => (s.includes('.') ? s.length - s.indexOf('.') - 1 : 0)));
  const count = Math.floor((z - a) / d + 1e-9) + 1;
  if (count > 1_000_000) throw new OcimakeError('RUN_UNSUPPORTED', `seq would print ${count} numbers`, { hint: 'a native RUN prints at most 1,000,000; let the RUN execute (--isolation auto)' });
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push((a + i * d).toFixed(places));
  const width = o.flags.has('w') ? Math.max(...out.map((s) => s.replace('-', '').length)) : 0;
  const shown = out.map((s) => (s.startsWith('-') ? `-${s.slice(1).padStart(width, '0')}` : s.padStart(width, '0')));
  if (shown.length > 0) io.out(`${shown.join(o.values.get('s')?.at(-1) ?? '\n')}\n`);
  return 0;
};

/** nproc, getconf _NPROCESSORS_ONLN: the build host's processors, as a container sees them. */
const nproc: Command = async (args, io) => {
  parseOpts('nproc', args, '', { all: 'a' });
  io.out(`${availableParallelism()}\n`);
  return 0;
};

const getconf: Command = async (args, io, sh) => {
  const [name] = args;
  const values: Record<string, () => Promise<string>> = {
    _NPROCESSORS_ONLN: async () => String(availableParallelism()),
    _NPROCESSORS_CONF: async () => String(availableParallelism()),
    PAGESIZE: async () => '4096',
    PAGE_SIZE: async () => '4096',
    // The word size of the platform built (uname -m says which), as the image's getconf would.
    LONG_BIT: async () => {
      const chunks: string[] = [];
      await sh.commands.get('uname')?.(['-m'], { stdin: Buffer.alloc(0), out: (d) => { chunks.push(String(d)); }, err: () => {} }, sh);
      return /^(x86_64|aarch64|ppc64le|s390x|riscv64)$/.test(chunks.join('').trim()) || chunks.length === 0 ? '64' : '32';
    },
  };
  const get = name === undefined ? undefined : values[name];
  if (!get) throw new OcimakeError('RUN_UNSUPPORTED', `getconf ${name ?? ''} is not supported natively`, { hint: `getconf ${Object.keys(values).join(', ')} are` });
  io.out(`${await get()}\n`);
  return 0;
};

/**
 * expr: | & = != < <= > >= + - * / % : and length, substr, index, match, with ( ). Numbers
 * compare as numbers, anything else as strings; the status is 1 when the result is 0 or "".
 */
const expr: Command = async (args, io) => {
  let i = 0;
  const peek = () => args[i];
  const isInt = (s: string) => /^-?\d+$/.test(s);
  const num = (s: string): bigint => {
    if (!isInt(s)) throw new RunError('non-numeric argument', 2);
    return BigInt(s);
  };
  const nul = (s: string) => s === '' || (isInt(s) && BigInt(s) === 0n);
  const primary = (): string => {
    const t = args[i++];
    if (t === undefined) throw new RunError('syntax error', 2);
    if (t === '(') {
      const v = or();
      if (args[i++] !== ')') throw new RunError('syntax error', 2);
      return v;
    }
    if (t === 'length') return String([...primary()].length);
    if (t === 'substr') {
      const s = primary(); const pos = Number(num(primary())); const len = Number(num(primary()));
      return pos < 1 || len < 1 ? '' : [...s].slice(pos - 1, pos - 1 + len).join('');
    }
    if (t === 'index') {
      const s = primary(); const chars = primary();
      const at = [...s].findIndex((c) => chars.includes(c));
      return String(at + 1);
    }
    if (t === 'match') return match(primary(), primary());
    return t;
  };
  const match = (s: string, re: string): string => {
    const m = posixRegExp(re, { syntax: 'bre', what: 'expr', wrap: (js) => `^(?:${js})` }).exec(s);
    if (/\\\(/.test(re)) return m?.[1] ?? '';
    return String(m ? m[0].length : 0);
  };
  const colon = (): string => {
    let v = primary();
    while (peek() === ':') { i++; v = match(v, primary()); }
    return v;
  };
  const mul = (): string => {
    let v = colon();
    while (['*', '/', '%'].includes(peek() ?? '')) {
      const op = args[i++]!; const r = colon();
      const a = num(v); const b = num(r);
      if (op !== '*' && b === 0n) throw new RunError('division by zero', 2);
      v = String(op === '*' ? a * b : op === '/' ? a / b : a % b);
    }
    return v;
  };
  const add = (): string => {
    let v = mul();
    while (peek() === '+' || peek() === '-') { const op = args[i++]!; const r = mul(); v = String(op === '+' ? num(v) + num(r) : num(v) - num(r)); }
    return v;
  };
  const cmp = (): string => {
    let v = add();
    while (['=', '==', '!=', '<', '<=', '>', '>='].includes(peek() ?? '')) {
      const op = args[i++]!; const r = add();
      const c = isInt(v) && isInt(r) ? (BigInt(v) < BigInt(r) ? -1 : BigInt(v) > BigInt(r) ? 1 : 0) : v < r ? -1 : v > r ? 1 : 0;
      const ok = op === '=' || op === '==' ? c === 0 : op === '!=' ? c !== 0 : op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0;
      v = ok ? '1' : '0';
    }
    return v;
  };
  const and = (): string => {
    let v = cmp();
    while (peek() === '&') { i++; const r = cmp(); v = nul(v) || nul(r) ? '0' : v; }
    return v;
  };
  const or = (): string => {
    let v = and();
    while (peek() === '|') { i++; const r = and(); v = nul(v) ? r : v; } // busybox: the right side, even when null
    return v;
  };
  if (args.length === 0) throw new RunError('too few arguments', 2);
  const v = or();
  if (i < args.length) throw new RunError('syntax error', 2);
  io.out(`${v}\n`);
  return nul(v) ? 1 : 0;
};

export const MISC_COMMANDS: [string, Command][] = [
  ['egrep', egrep], ['fgrep', fgrep], ['which', which], ['readlink', readlink('readlink')], ['realpath', readlink('realpath')], ['unlink', unlink],
  ['base64', base64], ['seq', seq], ['nproc', nproc], ['getconf', getconf], ['expr', expr],
];
