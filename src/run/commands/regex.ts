import v8 from 'node:v8';
import { RunError } from '../errors.js';

// The regular expressions of grep and sed, POSIX basic (BRE) or extended (ERE), as JavaScript
// ones. A RUN's pattern is input ocimake does not control: V8's backtracking engine takes
// exponential time on `(a*)*b`, so V8 is told to finish such a match with its linear-time
// engine once it has backtracked too far (a process-wide V8 setting that changes no result,
// only how long a pathological match takes). That engine has no back-references and no case
// folding, so -i is spelt out as classes ([aA]) here; a pattern with a back-reference keeps
// the backtracking engine, as busybox's own regexec does.

let linearFallback = false;

/** Compiles a BRE or ERE; a malformed one is grep's and sed's exit 2. */
export function posixRegExp(src: string, opts: { syntax: 'bre' | 'ere' | 'fixed'; icase?: boolean; flags?: string; wrap?: (js: string) => string; what: string }): RegExp {
  if (!linearFallback) {
    v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
    linearFallback = true;
  }
  let js = opts.syntax === 'fixed' ? src.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&') : opts.syntax === 'ere' ? ereToJs(src) : breToJs(src);
  if (opts.icase) js = foldCase(js);
  if (opts.wrap) js = opts.wrap(js);
  try {
    return new RegExp(js, opts.flags ?? '');
  } catch {
    throw new RunError(`${opts.what}: bad regex '${src}'`, 2);
  }
}

/** A POSIX basic regular expression as a JavaScript one (busybox and GNU extensions \+ \? \| included). */
function breToJs(re: string): string {
  let out = '';
  for (let i = 0; i < re.length; i++) {
    const c = re[i]!;
    if (c === '\\' && i + 1 < re.length) {
      const n = re[++i]!;
      if ('(){}+?|'.includes(n)) out += n;
      else out += escapeOf(n);
    } else if ('(){}+?|'.includes(c)) out += `\\${c}`;
    else if (c === '[') {
      const end = bracketEnd(re, i);
      if (end < 0) { out += '\\['; continue; }
      out += bracket(re.slice(i, end + 1));
      i = end;
    } else if (c === '*' && (out === '' || out.endsWith('^'))) out += '\\*';
    else out += c;
  }
  return out;
}

/** An ERE as a JavaScript one: bracket expressions with POSIX classes, \< and \>. */
function ereToJs(re: string): string {
  let out = '';
  for (let i = 0; i < re.length; i++) {
    const c = re[i]!;
    if (c === '\\' && i + 1 < re.length) out += escapeOf(re[++i]!);
    else if (c === '[') {
      const end = bracketEnd(re, i);
      if (end < 0) { out += '\\['; continue; }
      out += bracket(re.slice(i, end + 1));
      i = end;
    } else out += c;
  }
  return out;
}

function escapeOf(n: string): string {
  if (n === '<' || n === '>') return '\\b';
  if (/[1-9ntwWsSbB]/.test(n)) return `\\${n}`;
  return /[A-Za-z0-9]/.test(n) ? n : `\\${n}`;
}

/** A POSIX bracket expression as a JavaScript class: `]` first is literal, `\` is literal. */
function bracket(b: string): string {
  let body = b.slice(1, -1);
  let neg = '';
  if (body.startsWith('^')) { neg = '^'; body = body.slice(1); }
  let out = '';
  for (let i = 0; i < body.length; i++) {
    if (body.startsWith('[:', i)) {
      const k = body.indexOf(':]', i + 2);
      out += POSIX_CLASSES[body.slice(i + 2, k)] ?? '';
      i = k + 1;
    } else out += /[\]\\[^]/.test(body[i]!) ? `\\${body[i]}` : body[i];
  }
  return `[${neg}${out}]`;
}

/** The index of the `]` closing the bracket expression at `i` (classes like [:alpha:] inside), or -1. */
function bracketEnd(re: string, i: number): number {
  let j = i + 1;
  if (re[j] === '^') j++;
  if (re[j] === ']') j++;
  while (j < re.length && re[j] !== ']') {
    if (re.startsWith('[:', j)) { const k = re.indexOf(':]', j + 2); if (k < 0) return -1; j = k + 2; } else j++;
  }
  return j < re.length ? j : -1;
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'A-Za-z', digit: '0-9', alnum: 'A-Za-z0-9', upper: 'A-Z', lower: 'a-z', space: ' \\t\\n\\r\\f\\v', blank: ' \\t', punct: '!-\\/:-@\\[-`{-~', xdigit: '0-9A-Fa-f',
};

/** Case-insensitive matching spelt out: a letter becomes [aA], a class gains the other case. */
function foldCase(js: string): string {
  let out = '';
  for (let i = 0; i < js.length; i++) {
    const c = js[i]!;
    if (c === '\\') { out += js.slice(i, i + 2); i++; continue; }
    if (c === '[') {
      let j = i + 1;
      if (js[j] === '^') j++;
      let body = '';
      for (; j < js.length && js[j] !== ']'; j++) {
        if (js[j] === '\\') { body += js.slice(j, j + 2); j++; continue; }
        if (js[j + 1] === '-' && j + 2 < js.length && js[j + 2] !== ']') {
          const [lo, hi] = [js[j]!, js[j + 2]!];
          body += `${lo}-${hi}`;
          if (/[a-z]/.test(lo) && /[a-z]/.test(hi)) body += `${lo.toUpperCase()}-${hi.toUpperCase()}`;
          else if (/[A-Z]/.test(lo) && /[A-Z]/.test(hi)) body += `${lo.toLowerCase()}-${hi.toLowerCase()}`;
          j += 2;
          continue;
        }
        body += both(js[j]!);
      }
      out += `[${js[i + 1] === '^' ? '^' : ''}${body}]`;
      i = j;
      continue;
    }
    out += /[A-Za-z]/.test(c) ? `[${both(c)}]` : c;
  }
  return out;
}

function both(c: string): string {
  return /[A-Za-z]/.test(c) ? `${c.toLowerCase()}${c.toUpperCase()}` : c;
}

/**
 * True when the regex (as JavaScript source) has an alternation whose branches could match at
 * one place with different lengths. POSIX takes the longest match and the longest leftmost
 * submatches; JavaScript the first branch that works, so `s/a|ab/X/` on "ab" would give "Xb"
 * where busybox gives "X". Branches that are all plain literals, none a prefix of another, can
 * match only one way, so they are safe (`(foo|bar)`, the common case).
 */
export function alternationMayDiffer(js: string): boolean {
  interface Frame { alts: string[]; cur: string; literal: boolean; allLiteral: boolean }
  const frame = (): Frame => ({ alts: [], cur: '', literal: true, allLiteral: true });
  const stack: Frame[] = [frame()];
  const close = (f: Frame): boolean => {
    f.alts.push(f.cur);
    f.allLiteral &&= f.literal;
    if (f.alts.length < 2) return false;
    if (!f.allLiteral) return true;
    return f.alts.some((a, i) => f.alts.some((b, j) => i !== j && b.startsWith(a)));
  };
  for (let i = 0; i < js.length; i++) {
    const top = stack.at(-1)!;
    const c = js[i]!;
    if (c === '\\') {
      const n = js[++i] ?? '';
      if (/[A-Za-z0-9]/.test(n)) top.literal = false; else top.cur += n;
    } else if (c === '[') {
      for (i++; i < js.length && js[i] !== ']'; i++) if (js[i] === '\\') i++;
      top.literal = false;
    } else if (c === '(') {
      if (js.startsWith('?:', i + 1)) i += 2;
      stack.push(frame());
    } else if (c === ')') {
      const f = stack.pop()!;
      if (close(f)) return true;
      const parent = stack.at(-1) ?? frame();
      if (f.alts.length > 1 || !f.literal) parent.literal = false; else parent.cur += f.alts[0];
      if (stack.length === 0) stack.push(parent);
    } else if (c === '|') {
      top.alts.push(top.cur);
      top.allLiteral &&= top.literal;
      top.cur = '';
      top.literal = true;
    } else if ('.*+?{}^$'.includes(c)) top.literal = false;
    else top.cur += c;
  }
  return stack.some((f) => close(f));
}

