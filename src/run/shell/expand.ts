import { RunError } from '../errors.js';
import { compileGlob, type Glob } from '../../util/glob.js';
import { overLimit } from '../../util/limits.js';
import { joinPath } from '../fs/run-fs.js';
import type { ShellState } from './state.js';
import { ARITH, OP, typeOf, type ShNode } from './syntax.js';

/**
 * A piece of a word after expansion: literal text (glob-active), an unquoted expansion (split
 * and glob-active), quoted text, or the boundary between two of "$@"'s fields.
 */
type Seg = { text: string; kind: 'lit' | 'exp' | 'q' | 'break' };

/** Runs a command substitution: the interpreter's hook. */
export type Subst = (stmts: ShNode[]) => Promise<string>;

const GLOB = /[*?[]/;

/** Expands words into fields, as sh does: parameters, command substitution, arithmetic, field splitting, globs. */
export async function expandFields(words: ShNode[], sh: ShellState, subst: Subst): Promise<string[]> {
  const out: string[] = [];
  for (const w of words) {
    const segs = await wordSegs(w, sh, subst, false);
    for (const field of split(segs, sh)) {
      // A field with nothing glob-active is itself: no promise, no array (touch $(seq 1000) has 1,000).
      if (sh.opts.noglob || !field.some((s) => s.kind !== 'q' && GLOB.test(s.text))) out.push(field.length === 1 ? field[0]!.text : field.map((s) => s.text).join(''));
      else for (const f of await glob(field, sh)) out.push(f);
    }
  }
  return out;
}

/** Expands one word to one string, with no splitting and no globs (assignments, redirect targets, heredocs, case words). */
export async function expandString(w: ShNode | null, sh: ShellState, subst: Subst): Promise<string> {
  if (!w) return '';
  return (await wordSegs(w, sh, subst, true)).map((s) => s.text).join('');
}

/** A word as a pattern (case items, ${x#pat}): quoted parts match literally. */
export async function expandPattern(w: ShNode | null, sh: ShellState, subst: Subst): Promise<string> {
  if (!w) return '';
  return (await wordSegs(w, sh, subst, false)).map((s) => (s.kind === 'q' ? escapeGlob(s.text) : s.text)).join('');
}

async function wordSegs(w: ShNode, sh: ShellState, subst: Subst, quoted: boolean): Promise<Seg[]> {
  const segs: Seg[] = [];
  const parts: ShNode[] = w.Parts;
  let length = 0;
  for (let i = 0; i < parts.length; i++) {
    for (const s of await partSegs(parts[i], sh, subst, quoted, i === 0)) {
      length += s.text.length;
      segs.push(s);
    }
    if (length > sh.maxString) throw overLimit('runStringSize', `a word expanded to more than ${sh.maxString} characters`, 'a value that doubles without end, or more data than a shell variable should hold (write it to a file)');
  }
  return segs;
}

async function partSegs(p: ShNode, sh: ShellState, subst: Subst, quoted: boolean, first: boolean): Promise<Seg[]> {
  const t = typeOf(p);
  switch (t) {
    case 'Lit': {
      let v: string = p.Value;
      if (!quoted && first && v.startsWith('~')) {
        const m = /^~(?=\/|$)/.exec(v);
        if (m) v = (sh.vars.get('HOME') ?? sh.user.home) + v.slice(1);
      }
      return [{ text: quoted ? unescapeQuoted(v) : unescapeLit(v), kind: quoted ? 'q' : (v.includes('\\') ? 'q' : 'lit') }];
    }
    case 'SglQuoted':
      return [{ text: p.Dollar ? ansiC(p.Value) : p.Value, kind: 'q' }];
    case 'DblQuoted': {
      const out: Seg[] = [];
      let at = false;
      for (const q of p.Parts as ShNode[]) {
        if (isAllArgs(q)) {
          // "$@": one field per parameter, none at all when there are none.
          at = true;
          sh.args.forEach((a, i) => { if (i > 0) out.push({ text: ' ', kind: 'break' }); out.push({ text: a, kind: 'q' }); });
          continue;
        }
        for (const s of await partSegs(q, sh, subst, true, false)) out.push({ text: s.text, kind: 'q' });
      }
      return out.length === 0 && !at ? [{ text: '', kind: 'q' }] : out;
    }
    case 'ParamExp':
      return [{ text: await paramExp(p, sh, subst), kind: quoted ? 'q' : 'exp' }];
    case 'CmdSubst':
      return [{ text: (await subst(p.Stmts)).replace(/\n+$/, ''), kind: quoted ? 'q' : 'exp' }];
    case 'ArithmExp':
      return [{ text: String(await arith(p.X, sh, subst)), kind: quoted ? 'q' : 'exp' }];
    default:
      throw new RunError(`shell syntax not interpreted here: ${t}`, 2);
  }
}

/** `$@` or `${@}`, plain. */
function isAllArgs(p: ShNode): boolean {
  return typeOf(p) === 'ParamExp' && p.Param.Value === '@' && !p.Length && !p.Exp && !p.Repl && !p.Slice && !p.Index;
}

function unescapeLit(v: string): string {
  return v.replace(/\\(.)/gs, '$1').replace(/\\\n/g, '');
}

function unescapeQuoted(v: string): string {
  return v.replace(/\\([$`"\\\n])/g, (_m, c: string) => (c === '\n' ? '' : c));
}

function ansiC(v: string): string {
  const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', e: '\x1b', f: '\f', v: '\v' };
  return v.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_m, c: string) => {
    if (c.startsWith('x')) return String.fromCharCode(parseInt(c.slice(1), 16));
    if (/^[0-7]+$/.test(c)) return String.fromCharCode(parseInt(c, 8));
    return map[c] ?? `\\${c}`;
  });
}

function special(name: string, sh: ShellState): string | undefined {
  switch (name) {
    case '?': return String(sh.lastStatus);
    case '$': return '1';
    case '#': return String(sh.args.length);
    case '@': case '*': return sh.args.join(name === '*' ? (sh.vars.get('IFS') ?? ' ')[0] ?? '' : ' ');
    case '0': return '/bin/sh';
    case '-': return `${sh.opts.errexit ? 'e' : ''}${sh.opts.nounset ? 'u' : ''}${sh.opts.xtrace ? 'x' : ''}`;
    default: return /^[1-9][0-9]*$/.test(name) ? sh.args[Number(name) - 1] : undefined;
  }
}

async function paramExp(p: ShNode, sh: ShellState, subst: Subst): Promise<string> {
  const name: string = p.Param.Value;
  const sp = special(name, sh);
  const value = sp ?? sh.vars.get(name);
  if (p.Length) return String((value ?? '').length);
  if (p.Slice || p.Index || p.Excl || p.Names) throw new RunError(`\${${name}...}: bash expansion not interpreted here`, 2);
  if (p.Repl) {
    const src = await expandPattern(p.Repl.Orig, sh, subst);
    const to = await expandString(p.Repl.With, sh, subst);
    return src === '' ? value ?? '' : replacePattern(value ?? '', shellPattern(src, true), to, Boolean(p.Repl.All));
  }
  const exp = p.Exp;
  if (!exp) {
    if (value === undefined && sh.opts.nounset) throw new RunError(`${name}: parameter not set`, 2);
    return value ?? '';
  }
  const op: number = exp.Op;
  const unsetOrEmpty = value === undefined || value === '';
  const colon = [OP.alternateColon, OP.defaultColon, OP.errorColon, OP.assignColon].includes(op as 69);
  const missing = colon ? unsetOrEmpty : value === undefined;
  switch (op) {
    case OP.default: case OP.defaultColon:
      return missing ? expandString(exp.Word, sh, subst) : value!;
    case OP.alternate: case OP.alternateColon:
      return missing ? '' : expandString(exp.Word, sh, subst);
    case OP.assign: case OP.assignColon:
      if (missing) { const v = await expandString(exp.Word, sh, subst); sh.vars.set(name, v); return v; }
      return value!;
    case OP.error: case OP.errorColon:
      if (missing) throw new RunError(`${name}: ${(await expandString(exp.Word, sh, subst)) || 'parameter not set'}`, 2);
      return value!;
    case OP.remSmallPrefix: case OP.remLargePrefix: case OP.remSmallSuffix: case OP.remLargeSuffix: {
      const v = value ?? '';
      const pat = shellPattern(await expandPattern(exp.Word, sh, subst), true);
      const large = op === OP.remLargePrefix || op === OP.remLargeSuffix;
      if (op === OP.remSmallPrefix || op === OP.remLargePrefix) {
        const n = pat.prefix(v, large);
        return n < 0 ? v : v.slice(n);
      }
      const n = pat.suffix(v, large);
      return n < 0 ? v : v.slice(0, v.length - n);
    }
    default:
      throw new RunError(`\${${name}...}: expansion not interpreted here`, 2);
  }
}

/** Arithmetic expansion: integers, variables, + - * / % and comparisons. */
async function arith(x: ShNode, sh: ShellState, subst: Subst): Promise<number> {
  const t = typeOf(x);
  if (t === 'Word') {
    const s = (await expandString(x, sh, subst)).trim();
    if (/^-?\d+$/.test(s)) return Number(s);
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) return Number(sh.vars.get(s) ?? 0) || 0;
    throw new RunError(`arithmetic syntax error: ${s}`, 2);
  }
  if (t === 'ParenArithm') return arith(x.X, sh, subst);
  if (t === 'UnaryArithm' && (x.Op === 70 || x.Op === 68) && !x.Post) { const v = await arith(x.X, sh, subst); return x.Op === 70 ? -v : v; }
  if (t === 'BinaryArithm') {
    const op = ARITH[x.Op as number];
    const a = await arith(x.X, sh, subst);
    const b = await arith(x.Y, sh, subst);
    switch (op) {
      case '+': return a + b;
      case '-': return a - b;
      case '*': return a * b;
      case '/': if (b === 0) throw new RunError('arithmetic: division by zero', 2); return Math.trunc(a / b);
      case '%': if (b === 0) throw new RunError('arithmetic: division by zero', 2); return a % b;
      case '==': return Number(a === b);
      case '!=': return Number(a !== b);
      case '<': return Number(a < b);
      case '>': return Number(a > b);
      case '<=': return Number(a <= b);
      case '>=': return Number(a >= b);
      case '&&': return Number(a !== 0 && b !== 0);
      case '||': return Number(a !== 0 || b !== 0);
    }
  }
  throw new RunError('arithmetic expression not interpreted here', 2);
}

/** Field splitting on IFS whitespace: only unquoted expansion results split; "" stays one empty field. */
function split(segs: Seg[], sh: ShellState): Seg[][] {
  const ifs = sh.vars.get('IFS') ?? ' \t\n';
  const fields: Seg[][] = [];
  let cur: Seg[] = [];
  let has = false;
  for (const s of segs) {
    if (s.kind === 'break') { fields.push(cur); cur = []; has = true; continue; }
    if (s.kind !== 'exp' || ifs === '') { cur.push(s); has = true; continue; }
    const { pieces, hard } = ifsSplit(s.text, ifs);
    pieces.forEach((piece, i) => {
      if (i > 0) {
        // A delimiter: it ends the field so far; one with a non-blank IFS character ends even an empty one.
        if (has || hard[i - 1]) fields.push(cur);
        cur = [];
        has = false;
      }
      if (piece !== '') { cur.push({ text: piece, kind: 'exp' }); has = true; } else if (i > 0 && i < pieces.length - 1) has = true;
    });
  }
  if (has) fields.push(cur);
  return fields;
}

/**
 * Splits an expansion on IFS as POSIX says: blanks in IFS collapse and are trimmed; each other
 * IFS character (with the blanks around it) is one delimiter, so `a::c` is a, "", c.
 * `hard[i]`: the delimiter after piece i has a non-blank character.
 */
function ifsSplit(text: string, ifs: string): { pieces: string[]; hard: boolean[] } {
  const esc = (s: string) => s.replace(/[\]\\^-]/g, '\\$&');
  const ws = [...ifs].filter((c) => c === ' ' || c === '\t' || c === '\n').join('');
  const other = [...ifs].filter((c) => !ws.includes(c)).join('');
  const alts = [...(other ? [`${ws ? `[${esc(ws)}]*` : ''}[${esc(other)}]${ws ? `[${esc(ws)}]*` : ''}`] : []), ...(ws ? [`[${esc(ws)}]+`] : [])];
  const re = new RegExp(alts.join('|'), 'g');
  const pieces: string[] = [];
  const hard: boolean[] = [];
  let at = 0;
  for (const m of text.matchAll(re)) {
    pieces.push(text.slice(at, m.index));
    hard.push(other !== '' && [...m[0]].some((c) => other.includes(c)));
    at = m.index + m[0].length;
  }
  pieces.push(text.slice(at));
  return { pieces, hard };
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/** A shell pattern: `*`, `?`, `[...]` (with `!` or `^`, POSIX classes), `\` escapes. `slash`: may `*` match `/`. */
export function shellPattern(pattern: string, slash: boolean): Glob {
  return compileGlob(pattern, { slash, negators: '!^', unclosed: 'literal' });
}

/** `${v/pat/to}` and `${v//pat/to}`: the leftmost, longest match, replaced once or everywhere. */
function replacePattern(v: string, pat: Glob, to: string, all: boolean): string {
  let out = '';
  let at = 0;
  for (let m = pat.find(v, 0); m; m = all ? pat.find(v, at) : undefined) {
    const [start, end] = m;
    out += v.slice(at, start) + to;
    at = end;
    if (end === start) {
      if (end >= v.length) break;
      const step = (v.codePointAt(end)! > 0xffff ? 2 : 1);
      out += v.slice(end, end + step);
      at = end + step;
    }
  }
  return out + v.slice(at);
}

/** Pathname expansion of one field: matches in the RUN's filesystem, sorted; no match keeps the word. */
async function glob(field: Seg[], sh: ShellState): Promise<string[]> {
  const plain = field.map((s) => s.text).join('');
  if (sh.opts.noglob || !field.some((s) => s.kind !== 'q' && GLOB.test(s.text))) return [plain];
  const pattern = field.map((s) => (s.kind === 'q' ? escapeGlob(s.text) : s.text)).join('');
  const abs = pattern.startsWith('/');
  const segs = pattern.split('/').filter((s) => s !== '');
  let found: string[] = [abs ? '/' : ''];
  for (const seg of segs) {
    const next: string[] = [];
    const isPat = /(^|[^\\])[*?[]/.test(seg);
    for (const base of found) {
      const dirAbs = base === '' ? sh.cwd : base.startsWith('/') ? base : `${sh.cwd}/${base}`;
      if (!isPat) { next.push(joinRel(base, seg.replace(/\\(.)/g, '$1'))); continue; }
      const { path, node } = await sh.fs.resolve(dirAbs, true);
      if (node?.type !== 'directory') continue;
      const re = shellPattern(seg, false);
      for (const name of await sh.fs.readdir(path)) {
        if (name.startsWith('.') && !seg.startsWith('.')) continue;
        if (re.test(name)) next.push(joinRel(base, name));
      }
    }
    found = next;
  }
  const exists: string[] = [];
  for (const f of found) if ((await sh.fs.resolve(f.startsWith('/') ? f : `${sh.cwd}/${f}`, false)).node) exists.push(f);
  return exists.length > 0 ? exists.sort() : [plain];
}

const joinRel = (base: string, name: string) => (base === '/' ? `/${name}` : base === '' ? name : joinPath(base, name));
