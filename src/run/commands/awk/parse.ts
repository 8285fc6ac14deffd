import { OcimakeError } from '../../../errors.js';

// awk's language, the part RUN lines use: BEGIN/END and pattern { action } rules (expression,
// /regex/, and ranges), print and printf (with > and >> to files), if/else, while, do, for,
// for (k in a), next, exit, break, continue, delete, getline-free expressions with awk's
// precedence, arrays, fields, user functions. What is outside it is refused by name.

export type Expr =
  | { k: 'num'; v: number }
  | { k: 'str'; v: string }
  | { k: 're'; src: string }
  | { k: 'var'; name: string }
  | { k: 'field'; e: Expr }
  | { k: 'index'; name: string; keys: Expr[] }
  | { k: 'assign'; op: string; target: Expr; e: Expr }
  | { k: 'cond'; c: Expr; a: Expr; b: Expr }
  | { k: 'bin'; op: string; a: Expr; b: Expr }
  | { k: 'un'; op: string; e: Expr }
  | { k: 'incdec'; op: '++' | '--'; prefix: boolean; target: Expr }
  | { k: 'match'; neg: boolean; a: Expr; re: Expr }
  | { k: 'in'; keys: Expr[]; name: string }
  | { k: 'call'; name: string; args: Expr[] }
  | { k: 'group'; e: Expr };

export type Stmt =
  | { k: 'expr'; e: Expr }
  | { k: 'print'; args: Expr[]; printf: boolean; to?: { mode: '>' | '>>' | '|'; e: Expr } }
  | { k: 'if'; c: Expr; then: Stmt; else?: Stmt }
  | { k: 'while'; c: Expr; body: Stmt }
  | { k: 'do'; c: Expr; body: Stmt }
  | { k: 'for'; init?: Stmt; c?: Expr; step?: Stmt; body: Stmt }
  | { k: 'forin'; v: string; arr: string; body: Stmt }
  | { k: 'block'; body: Stmt[] }
  | { k: 'next' } | { k: 'exit'; e?: Expr } | { k: 'break' } | { k: 'continue' }
  | { k: 'return'; e?: Expr }
  | { k: 'delete'; name: string; keys?: Expr[] }
  | { k: 'getline' };

export interface Rule { begin?: true; end?: true; pattern?: Expr; range?: [Expr, Expr]; action?: Stmt[] }
export interface Program { rules: Rule[]; functions: Map<string, { params: string[]; body: Stmt[]; arrays: Set<string> }> }

type Tok = { t: 'num' | 'str' | 're' | 'name' | 'func' | 'op' | 'nl' | 'eof'; v: string };

const KEYWORDS = new Set(['BEGIN', 'END', 'function', 'func', 'if', 'else', 'while', 'for', 'do', 'in', 'next', 'exit', 'break', 'continue', 'return', 'delete', 'print', 'printf', 'getline', 'nextfile']);
export const BUILTIN_FUNCS = new Set(['length', 'substr', 'index', 'split', 'sub', 'gsub', 'match', 'sprintf', 'tolower', 'toupper', 'int', 'sqrt', 'exp', 'log', 'sin', 'cos', 'atan2', 'rand', 'srand', 'system', 'close', 'fflush']);

export function refuse(what: string): OcimakeError {
  return new OcimakeError('RUN_UNSUPPORTED', `awk: ${what} is not supported natively`, { hint: 'RUN interprets awk\'s common programs (fields, patterns, print/printf, variables, arrays, loops, string functions); let this RUN execute (--isolation auto)' });
}

function syntax(msg: string): OcimakeError {
  return new OcimakeError('RUN_FAILED', `awk: syntax error: ${msg}`, { hint: 'the awk program does not parse (busybox awk would refuse it too)' });
}

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  // A / starts a regex where an operand is expected.
  const operandNext = () => {
    const p = out.at(-1);
    if (!p) return true;
    if (p.t === 'num' || p.t === 'str' || p.t === 're' || (p.t === 'name' && !KEYWORDS.has(p.v))) return false;
    if (p.t === 'op' && (p.v === ')' || p.v === ']' || p.v === '$' || p.v === '++' || p.v === '--')) return p.v === '$';
    return true;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\' && src[i + 1] === '\n') { i += 2; continue; }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    if (c === '#') { while (i < src.length && src[i] !== '\n') i++; continue; }
    if (c === '\n' || c === ';') { out.push({ t: c === '\n' ? 'nl' : 'op', v: c }); i++; continue; }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?\.?)/.exec(src.slice(i))!;
      out.push({ t: 'num', v: m[0] });
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))![0];
      i += m.length;
      out.push({ t: src[i] === '(' && !KEYWORDS.has(m) ? 'func' : 'name', v: m });
      continue;
    }
    if (c === '"') {
      let s = '';
      for (i++; i < src.length && src[i] !== '"'; i++) {
        if (src[i] === '\\') {
          const n = src[++i] ?? '';
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', '/': '/', a: '\x07', b: '\b', f: '\f', v: '\v' };
          if (/[0-7]/.test(n)) { const m = /^[0-7]{1,3}/.exec(src.slice(i))![0]; s += String.fromCharCode(parseInt(m, 8)); i += m.length - 1; } else s += map[n] ?? `\\${n}`;
        } else s += src[i];
      }
      if (src[i] !== '"') throw syntax('unterminated string');
      i++;
      out.push({ t: 'str', v: s });
      continue;
    }
    if (c === '/' && operandNext()) {
      let s = '';
      for (i++; i < src.length && src[i] !== '/'; i++) {
        if (src[i] === '\\' && src[i + 1] === '/') { s += '/'; i++; } else if (src[i] === '\n') throw syntax('newline in regex'); else s += src[i];
        if (src[i] === '[') { // a / inside a bracket expression does not end the regex
          for (i++; i < src.length && src[i] !== ']'; i++) s += src[i];
          if (src[i] === ']') s += ']';
        }
      }
      if (src[i] !== '/') throw syntax('unterminated regex');
      i++;
      out.push({ t: 're', v: s });
      continue;
    }
    const ops = ['+=', '-=', '*=', '/=', '%=', '^=', '==', '!=', '<=', '>=', '&&', '||', '++', '--', '>>', '**', '!~'];
    const two = src.slice(i, i + 2);
    if (ops.includes(two)) { out.push({ t: 'op', v: two === '**' ? '^' : two }); i += 2; continue; }
    if ('{}()[],;+-*/%^!<>=?:~$|'.includes(c)) { out.push({ t: 'op', v: c }); i++; continue; }
    throw syntax(`unexpected character '${c}'`);
  }
  out.push({ t: 'eof', v: '' });
  return out;
}

export function parseAwk(src: string): Program {
  const toks = lex(src);
  let p = 0;
  const peek = (o = 0) => toks[p + o]!;
  const is = (v: string) => peek().t === 'op' && peek().v === v;
  const isName = (v: string) => peek().t === 'name' && peek().v === v;
  const eat = (v: string) => { if (!is(v)) throw syntax(`expected '${v}' near '${peek().v || 'end'}'`); p++; };
  const nls = () => { while (peek().t === 'nl') p++; };
  const terms = () => { while (peek().t === 'nl' || is(';')) p++; };
  const program: Program = { rules: [], functions: new Map() };
  let noGt = false; // in print's arguments, > is a redirection

  const primary = (): Expr => {
    const t = peek();
    if (t.t === 'num') { p++; return { k: 'num', v: Number(t.v) }; }
    if (t.t === 'str') { p++; return { k: 'str', v: t.v }; }
    if (t.t === 're') { p++; return { k: 're', src: t.v }; }
    if (t.t === 'op' && t.v === '(') {
      p++;
      // Inside parentheses > compares again, even in print's arguments.
      const gt = noGt;
      noGt = false;
      try { return group(); } finally { noGt = gt; }
    }
    if (t.t === 'op' && t.v === '$') { p++; return { k: 'field', e: incdecOrPrimary() }; }
    return rest(t);
  };
  const group = (): Expr => {
    {
      const first = expr();
      if (is(',')) { // (a, b) in arr
        const keys = [first];
        while (is(',')) { p++; keys.push(expr()); }
        eat(')');
        if (!isName('in')) throw syntax('expected in after (…, …)');
        p++;
        const name = peek().v; p++;
        return { k: 'in', keys, name };
      }
      eat(')');
      return { k: 'group', e: first };
    }
  };
  const rest = (t: Tok): Expr => {
    if (t.t === 'op' && (t.v === '-' || t.v === '+' || t.v === '!')) { p++; return { k: 'un', op: t.v, e: unaryOperand() }; }
    if (t.t === 'op' && (t.v === '++' || t.v === '--')) { p++; return { k: 'incdec', op: t.v, prefix: true, target: lvalue() }; }
    if (t.t === 'func') {
      p++;
      eat('(');
      const args: Expr[] = [];
      nls();
      if (!is(')')) { args.push(expr()); while (is(',')) { p++; nls(); args.push(expr()); } }
      eat(')');
      return { k: 'call', name: t.v, args };
    }
    if (t.t === 'name') {
      if (t.v === 'getline') throw refuse('getline');
      if (KEYWORDS.has(t.v)) throw syntax(`unexpected ${t.v}`);
      p++;
      if (BUILTIN_FUNCS.has(t.v)) return { k: 'call', name: t.v, args: [] }; // length without ()
      if (is('[')) { p++; const keys = [expr()]; while (is(',')) { p++; keys.push(expr()); } eat(']'); return { k: 'index', name: t.v, keys }; }
      return { k: 'var', name: t.v };
    }
    throw syntax(`unexpected '${t.v || 'end of program'}'`);
  };
  const unaryOperand = (): Expr => power();
  const incdecOrPrimary = (): Expr => primary();
  const lvalue = (): Expr => {
    const e = primary();
    if (e.k !== 'var' && e.k !== 'field' && e.k !== 'index') throw syntax('++ or -- needs a variable');
    return e;
  };
  const postfix = (): Expr => {
    const e = primary();
    if ((is('++') || is('--')) && (e.k === 'var' || e.k === 'field' || e.k === 'index')) { const op = peek().v as '++' | '--'; p++; return { k: 'incdec', op, prefix: false, target: e }; }
    return e;
  };
  const power = (): Expr => {
    const a = postfix();
    if (is('^')) { p++; return { k: 'bin', op: '^', a, b: powerRight() }; }
    return a;
  };
  const powerRight = (): Expr => (is('-') || is('+') || is('!') ? (() => { const op = peek().v; p++; return { k: 'un', op, e: powerRight() } as Expr; })() : power());
  const mul = (): Expr => {
    let a = power();
    while (is('*') || is('/') || is('%')) { const op = peek().v; p++; a = { k: 'bin', op, a, b: power() }; }
    return a;
  };
  const add = (): Expr => {
    let a = mul();
    while (is('+') || is('-')) { const op = peek().v; p++; a = { k: 'bin', op, a, b: mul() }; }
    return a;
  };
  // Concatenation: operands side by side.
  const startsOperand = () => {
    const t = peek();
    if (t.t === 'num' || t.t === 'str' || t.t === 're' || t.t === 'func') return true;
    if (t.t === 'name') return !KEYWORDS.has(t.v) || t.v === 'getline';
    return t.t === 'op' && ['$', '(', '++', '--'].includes(t.v);
  };
  const concat = (): Expr => {
    let a = add();
    while (startsOperand()) a = { k: 'bin', op: 'cat', a, b: add() };
    return a;
  };
  const compare = (): Expr => {
    let a = concat();
    for (;;) {
      if (is('<') || is('<=') || is('==') || is('!=') || is('>=') || (is('>') && !noGt)) { const op = peek().v; p++; a = { k: 'bin', op, a, b: concat() }; continue; }
      if (is('|')) throw refuse('a pipe into getline');
      return a;
    }
  };
  const matchE = (): Expr => {
    let a = compare();
    while (is('~') || is('!~')) { const neg = peek().v === '!~'; p++; a = { k: 'match', neg, a, re: compare() }; }
    return a;
  };
  const inE = (): Expr => {
    let a = matchE();
    while (isName('in')) { p++; const name = peek().v; p++; a = { k: 'in', keys: [a], name }; }
    return a;
  };
  const andE = (): Expr => {
    let a = inE();
    while (is('&&')) { p++; nls(); a = { k: 'bin', op: '&&', a, b: inE() }; }
    return a;
  };
  const orE = (): Expr => {
    let a = andE();
    while (is('||')) { p++; nls(); a = { k: 'bin', op: '||', a, b: andE() }; }
    return a;
  };
  const ternary = (): Expr => {
    const c = orE();
    if (!is('?')) return c;
    p++; nls();
    const a = ternary(); nls();
    eat(':'); nls();
    return { k: 'cond', c, a, b: ternary() };
  };
  const expr = (): Expr => {
    const a = ternary();
    if (peek().t === 'op' && ['=', '+=', '-=', '*=', '/=', '%=', '^='].includes(peek().v)) {
      if (a.k !== 'var' && a.k !== 'field' && a.k !== 'index') throw syntax('assignment to a non-variable');
      const op = peek().v; p++; nls();
      return { k: 'assign', op, target: a, e: expr() };
    }
    return a;
  };

  const simple = (): Stmt => {
    if (isName('print') || isName('printf')) {
      const printf = peek().v === 'printf';
      p++;
      const args: Expr[] = [];
      noGt = true;
      if (is('(') ) {
        // print (a, b) > f: a parenthesised list
        const save = p;
        p++;
        const list = [expr()];
        while (is(',')) { p++; list.push(expr()); }
        if (is(')') && (peek(1).t === 'nl' || peek(1).t === 'eof' || ['>', '>>', '|', ';', '}'].includes(peek(1).v))) { p++; args.push(...list); } else { p = save; args.push(expr()); while (is(',')) { p++; args.push(expr()); } }
      } else if (!(peek().t === 'nl' || is(';') || is('}') || is('>') || is('>>') || is('|') || peek().t === 'eof')) {
        args.push(expr());
        while (is(',')) { p++; nls(); args.push(expr()); }
      }
      noGt = false;
      let to: { mode: '>' | '>>' | '|'; e: Expr } | undefined;
      if (is('>') || is('>>') || is('|')) {
        const mode = peek().v as '>' | '>>' | '|';
        if (mode === '|') throw refuse('print into a pipe (a command would be executed)');
        p++;
        to = { mode, e: concat() };
      }
      return { k: 'print', args, printf, ...(to ? { to } : {}) };
    }
    if (isName('next')) { p++; return { k: 'next' }; }
    if (isName('nextfile')) throw refuse('nextfile');
    if (isName('exit')) { p++; return peek().t === 'nl' || is(';') || is('}') || peek().t === 'eof' ? { k: 'exit' } : { k: 'exit', e: expr() }; }
    if (isName('break')) { p++; return { k: 'break' }; }
    if (isName('continue')) { p++; return { k: 'continue' }; }
    if (isName('return')) { p++; return peek().t === 'nl' || is(';') || is('}') ? { k: 'return' } : { k: 'return', e: expr() }; }
    if (isName('delete')) {
      p++;
      const name = peek().v; p++;
      if (!is('[')) return { k: 'delete', name };
      p++;
      const keys = [expr()];
      while (is(',')) { p++; keys.push(expr()); }
      eat(']');
      return { k: 'delete', name, keys };
    }
    if (isName('getline')) throw refuse('getline');
    return { k: 'expr', e: expr() };
  };
  const stmt = (): Stmt => {
    nls();
    if (is('{')) { p++; const body = stmts(); eat('}'); return { k: 'block', body }; }
    if (isName('if')) {
      p++; eat('('); const c = expr(); eat(')'); nls();
      const then = stmt();
      const save = p;
      terms();
      if (isName('else')) { p++; nls(); return { k: 'if', c, then, else: stmt() }; }
      p = save;
      return { k: 'if', c, then };
    }
    if (isName('while')) { p++; eat('('); const c = expr(); eat(')'); if (is(';')) { p++; return { k: 'while', c, body: { k: 'block', body: [] } }; } nls(); return { k: 'while', c, body: stmt() }; }
    if (isName('do')) { p++; nls(); const body = stmt(); terms(); if (!isName('while')) throw syntax('expected while after do'); p++; eat('('); const c = expr(); eat(')'); return { k: 'do', c, body }; }
    if (isName('for')) {
      p++; eat('(');
      if (peek().t === 'name' && peek(1).t === 'name' && peek(1).v === 'in' && peek(3).t === 'op' && peek(3).v === ')') {
        const v = peek().v; p += 2; const arr = peek().v; p++; eat(')'); nls();
        return { k: 'forin', v, arr, body: stmt() };
      }
      const init = is(';') ? undefined : simple(); eat(';'); nls();
      const c = is(';') ? undefined : expr(); eat(';'); nls();
      const step = is(')') ? undefined : simple(); eat(')');
      if (is(';')) { p++; return { k: 'for', ...(init ? { init } : {}), ...(c ? { c } : {}), ...(step ? { step } : {}), body: { k: 'block', body: [] } }; }
      nls();
      return { k: 'for', ...(init ? { init } : {}), ...(c ? { c } : {}), ...(step ? { step } : {}), body: stmt() };
    }
    if (is(';')) { p++; return { k: 'block', body: [] }; }
    const s = simple();
    if (!(peek().t === 'nl' || is(';') || is('}') || peek().t === 'eof')) throw syntax(`unexpected '${peek().v}'`);
    return s;
  };
  const stmts = (): Stmt[] => {
    const out: Stmt[] = [];
    terms();
    while (!is('}') && peek().t !== 'eof') { out.push(stmt()); terms(); }
    return out;
  };
  const action = (): Stmt[] => { eat('{'); const body = stmts(); eat('}'); return body; };

  terms();
  while (peek().t !== 'eof') {
    if (isName('BEGIN')) { p++; nls(); program.rules.push({ begin: true, action: action() }); } else if (isName('END')) { p++; nls(); program.rules.push({ end: true, action: action() }); } else if (isName('function') || isName('func')) {
      p++;
      const name = peek().v; p++;
      eat('(');
      const params: string[] = [];
      while (!is(')')) { params.push(peek().v); p++; if (is(',')) { p++; nls(); } }
      eat(')'); nls();
      const body = action();
      program.functions.set(name, { params, body, arrays: arrayNames(body, new Set(params)) });
    } else if (is('{')) {
      program.rules.push({ action: action() });
    } else {
      const pattern = expr();
      let range: [Expr, Expr] | undefined;
      if (is(',')) { p++; nls(); range = [pattern, expr()]; }
      const rule: Rule = range ? { range } : { pattern };
      if (is('{')) rule.action = action();
      program.rules.push(rule);
    }
    terms();
  }
  return program;
}

/** The names among `of` that `body` uses as arrays (subscripts, in, for-in, delete, split's target, passed on). */
function arrayNames(body: Stmt[], of: Set<string>): Set<string> {
  const found = new Set<string>();
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) { x.forEach(visit); return; }
    if (!x || typeof x !== 'object') return;
    const n = x as Record<string, unknown>;
    if ((n.k === 'index' || n.k === 'in' || n.k === 'delete') && typeof n.name === 'string' && of.has(n.name)) found.add(n.name);
    if (n.k === 'forin' && typeof n.arr === 'string' && of.has(n.arr)) found.add(n.arr);
    if (n.k === 'call' && n.name === 'split') { const t = (n.args as Expr[])[1]; if (t?.k === 'var' && of.has(t.name)) found.add(t.name); }
    for (const v of Object.values(n)) if (v && typeof v === 'object') visit(v);
  };
  visit(body);
  return found;
}
