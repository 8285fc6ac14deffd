import { RunError } from '../errors.js';
import { Inode } from '../fs/run-fs.js';
import { absPath, type Command } from '../shell/state.js';
import { parseOpts } from './opts.js';
import { OcimakeError } from '../../errors.js';
import { alternationMayDiffer, posixRegExp } from './regex.js';
import { readOperand } from './text.js';

// sed, the part Dockerfiles use: s///, d, p, a/i/c, with line, $ and /re/ addresses and
// ranges; -i edits in place (the file keeps its inode, owner and mode), -n, -e, -E/-r.

type Addr = { line: number } | { last: true } | { re: RegExp };
interface Cmd { a1?: Addr; a2?: Addr; neg: boolean; op: string; re?: RegExp; rep?: string; global?: boolean; nth?: number; print?: boolean; text?: string; inRange?: boolean }

function regex(src: string, ere: boolean, flags: string): RegExp {
  return posixRegExp(src, { syntax: ere ? 'ere' : 'bre', icase: flags.includes('i'), flags: flags.replace('i', ''), what: 'sed' });
}

/** Reads a delimited field at `i` (after the delimiter), honouring `\delim`; returns it and the index after the closing delimiter. */
function field(s: string, i: number, delim: string): [string, number] {
  let out = '';
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      const n = s[i + 1]!;
      out += n === delim ? n : `\\${n}`;
      i++;
    } else if (c === delim) return [out, i + 1];
    else if (c === '\n' && delim !== '\n') out += '\\n';
    else out += c;
  }
  throw new RunError(`unterminated \`s' command`);
}

function parseScript(script: string, ere: boolean): Cmd[] {
  const cmds: Cmd[] = [];
  let i = 0;
  const ws = () => { while (i < script.length && /[ \t]/.test(script[i]!)) i++; };
  const addr = (): Addr | undefined => {
    if (/\d/.test(script[i] ?? '')) { const m = /^\d+/.exec(script.slice(i))![0]; i += m.length; return { line: Number(m) }; }
    if (script[i] === '$') { i++; return { last: true }; }
    if (script[i] === '/' || script[i] === '\\') {
      const d = script[i] === '\\' ? script[++i]! : '/';
      const [src, next] = field(script, i + 1, d);
      i = next;
      let flags = '';
      if (script[i] === 'I') { flags = 'i'; i++; }
      return { re: regex(src, ere, flags) };
    }
    return undefined;
  };
  while (i < script.length) {
    ws();
    if (script[i] === ';' || script[i] === '\n') { i++; continue; }
    if (i >= script.length) break;
    const c: Cmd = { neg: false, op: '' };
    const a1 = addr();
    if (a1) { c.a1 = a1; if (script[i] === ',') { i++; const a2 = addr(); if (!a2) throw new RunError('unexpected ,'); c.a2 = a2; } }
    ws();
    if (script[i] === '!') { c.neg = true; i++; ws(); }
    const op = script[i++];
    if (op === undefined) throw new RunError('missing command');
    c.op = op;
    if (op === 's') {
      const d = script[i]!;
      const [src, n1] = field(script, i + 1, d);
      const [rep, n2] = field(script, n1, d);
      i = n2;
      let flags = 'g';
      c.global = false;
      while (i < script.length && /[gpIi0-9]/.test(script[i]!)) {
        const f = script[i++]!;
        if (f === 'g') c.global = true;
        else if (f === 'p') c.print = true;
        else if (f === 'I' || f === 'i') flags += 'i';
        else { const m = /^\d+/.exec(script.slice(i - 1))![0]; c.nth = Number(m); i += m.length - 1; }
      }
      c.re = regex(src, ere, flags);
      if (alternationMayDiffer(c.re.source)) {
        throw new OcimakeError('RUN_UNSUPPORTED', `sed: in s${d}${src}${d}, an alternation can match at different lengths: POSIX takes the longest, JavaScript's regex the first`, { hint: 'make the branches plain words none of which starts another (a|ab → ab|a does not help); or let the RUN execute (--isolation auto)' });
      }
      c.rep = rep;
    } else if (op === 'a' || op === 'i' || op === 'c') {
      ws();
      if (script[i] === '\\') { i++; if (script[i] === '\n') i++; }
      ws();
      const end = script.indexOf('\n', i);
      c.text = script.slice(i, end < 0 ? script.length : end).replace(/\\(.)/g, '$1');
      i = end < 0 ? script.length : end;
    } else if (op === '{' || op === '}') {
      throw new RunError('sed blocks ({...}) are not interpreted here');
    } else if (!'dpq='.includes(op)) {
      throw new RunError(`sed command '${op}' is not interpreted here`);
    }
    cmds.push(c);
  }
  return cmds;
}

function matches(a: Addr, line: string, n: number, isLast: boolean): boolean {
  if ('line' in a) return a.line === n;
  if ('last' in a) return isLast;
  a.re.lastIndex = 0;
  return a.re.test(line);
}

/** The replacement of `s`: `&` is the match, `\1`-`\9` groups, `\n` a newline. */
function replacement(rep: string, m: RegExpExecArray): string {
  return rep.replace(/\\(.)|&/gs, (all, c: string | undefined) => {
    if (all === '&') return m[0];
    if (c !== undefined && /[1-9]/.test(c)) return m[Number(c)] ?? '';
    if (c === 'n') return '\n';
    if (c === 't') return '\t';
    return c ?? '';
  });
}

function substitute(line: string, c: Cmd): [string, boolean] {
  const re = new RegExp(c.re!.source, c.re!.flags.includes('g') ? c.re!.flags : `${c.re!.flags}g`);
  let n = 0;
  let done = false;
  const out = line.replace(re, (...args) => {
    n++;
    const want = c.nth ?? 1;
    if (done && !c.global) return args[0] as string;
    if (n < want) return args[0] as string;
    done = true;
    const m = Object.assign([...args.slice(0, -2)] as string[], { index: 0, input: line }) as unknown as RegExpExecArray;
    return replacement(c.rep!, m);
  });
  return [out, done];
}

export function runSed(text: string, cmds: Cmd[], quiet: boolean): string {
  const lines = text.split('\n');
  const trailing = lines[lines.length - 1] === '';
  if (trailing) lines.pop();
  const out: string[] = [];
  for (let n = 1; n <= lines.length; n++) {
    let line = lines[n - 1]!;
    const isLast = n === lines.length;
    let deleted = false;
    const after: string[] = [];
    for (const c of cmds) {
      let hit = true;
      if (c.a1) {
        if (c.a2) {
          if (!c.inRange) { if (matches(c.a1, line, n, isLast)) { c.inRange = !('line' in c.a2 && c.a2.line <= n); hit = true; } else hit = false; }
          else { if (matches(c.a2, line, n, isLast) || ('line' in c.a2 && c.a2.line <= n)) c.inRange = false; hit = true; }
        } else hit = matches(c.a1, line, n, isLast);
      }
      if (hit === c.neg) continue;
      if (c.op === 'd') { deleted = true; break; }
      if (c.op === 'p') out.push(line);
      if (c.op === '=') out.push(String(n));
      if (c.op === 's') { const [l, done] = substitute(line, c); line = l; if (done && c.print) out.push(line); }
      if (c.op === 'a') after.push(c.text!);
      if (c.op === 'i') out.push(c.text!);
      if (c.op === 'c') { out.push(c.text!); deleted = true; break; }
      if (c.op === 'q') { if (!quiet) out.push(line); out.push(...after); return `${out.join('\n')}\n`; }
    }
    if (!deleted && !quiet) out.push(line);
    out.push(...after);
  }
  return out.length === 0 ? '' : `${out.join('\n')}${trailing ? '\n' : ''}`;
}

export const sed: Command = async (args, io, sh) => {
  const o = parseOpts('sed', args, 'ie:nErf:s', { 'in-place': 'i', expression: 'e', quiet: 'n', 'regexp-extended': 'E' });
  const ere = o.flags.has('E') || o.flags.has('r');
  if (o.flags.has('f')) throw new RunError('sed -f (a script file) is not interpreted here; use -e');
  const exprs = o.values.get('e') ?? (o.rest.length > 0 ? [o.rest.shift()!] : []);
  if (exprs.length === 0) throw new RunError('no script specified');
  const cmds = parseScript(exprs.join('\n'), ere);
  const files = o.rest;
  if (o.flags.has('i')) {
    if (files.length === 0) throw new RunError('no files to edit in place');
    for (const f of files) {
      const { path, node } = await sh.fs.resolve(absPath(sh, f), true);
      if (!node || node.type !== 'file') throw new RunError(`can't open '${f}': No such file or directory`);
      for (const c of cmds) c.inRange = false;
      const text = runSed((await sh.fs.bytes(node)).toString('utf8'), cmds, o.flags.has('n'));
      // Busybox writes a new file and renames it over the old: same owner and mode, a new inode.
      sh.fs.set(path, { type: 'file', ino: new Inode({ ...node.ino.meta }, Buffer.from(text)) });
    }
    return 0;
  }
  let input = '';
  for (const f of files.length === 0 ? ['-'] : files) input += (await readOperand(sh, f, io.stdin)).toString('utf8');
  io.out(runSed(input, cmds, o.flags.has('n')));
  return 0;
};
