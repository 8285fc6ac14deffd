import { limit, overLimit } from '../../../util/limits.js';
import { RunError } from '../../errors.js';
import { writeFileAt } from '../../shell/interp.js';
import type { Io, ShellState } from '../../shell/state.js';
import { posixRegExp } from '../regex.js';
import { awkSprintf } from './format.js';
import { callBuiltin } from './functions.js';
import { refuse, type Expr, type Program, type Stmt } from './parse.js';

// Runs a parsed awk program over its input, as busybox awk does: records split on newlines,
// fields on FS, values that are strings, numbers, or input that looks numeric (strnum).

/** Input text that compares as a number when it looks like one. */
export class StrNum { constructor(readonly s: string) {} }

/** A value from outside the program (-v, VAR=VALUE operands): it compares as a number when it looks like one. */
export const StrNumOf = (s: string): StrNum => new StrNum(s);
export type V = number | string | StrNum;
export type Arr = Map<string, V>;

const NUMERIC = /^\s*[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)\s*$/;

class Next {}
class Exit { constructor(readonly status: number) {} }
class Break {}
class Continue {}
class Return { constructor(readonly v: V) {} }

export interface AwkInput { name: string; data: Buffer }

export class AwkRun {
  readonly globals = new Map<string, V | Arr>();
  /** Internals the builtin functions (functions.ts) use: call frames, the record's fields, output files. */
  readonly frames: Map<string, V | Arr>[] = [];
  fields: string[] = [''];
  #nf = 0;
  readonly #regexes = new Map<string, RegExp>();
  readonly files = new Map<string, string[]>();
  #ranges = new Map<number, boolean>();
  #steps = 0;
  readonly #maxSteps = limit('runLoopIterations');

  constructor(readonly prog: Program, readonly io: Io, readonly sh: ShellState) {
    for (const [k, v] of [['FS', ' '], ['OFS', ' '], ['ORS', '\n'], ['RS', '\n'], ['NR', 0], ['NF', 0], ['FNR', 0], ['SUBSEP', '\x1c'], ['RSTART', 0], ['RLENGTH', -1], ['CONVFMT', '%.6g'], ['OFMT', '%.6g'], ['FILENAME', '']] as const) this.globals.set(k, v);
    this.globals.set('ENVIRON', new Map([...sh.exported].filter((n) => sh.vars.has(n)).map((n) => [n, new StrNum(sh.vars.get(n)!)])));
  }

  /** Runs BEGIN, the records of the inputs, END; returns the exit status. */
  async run(inputs: () => AsyncIterable<AwkInput>): Promise<number> {
    let status = 0;
    try {
      try {
        for (const r of this.prog.rules) if (r.begin) await this.block(r.action!);
        if (this.prog.rules.some((r) => !r.begin)) {
          for await (const input of inputs()) {
            this.globals.set('FILENAME', input.name);
            this.globals.set('FNR', 0);
            if (this.str(this.get('RS')) !== '\n') throw refuse('RS other than a newline');
            const text = input.data.toString('utf8');
            const lines = text.split('\n');
            if (lines.at(-1) === '') lines.pop();
            for (const line of lines) {
              this.#tick();
              this.globals.set('NR', this.num(this.get('NR')) + 1);
              this.globals.set('FNR', this.num(this.get('FNR')) + 1);
              this.setRecord(line);
              try { await this.record(); } catch (e) { if (!(e instanceof Next)) throw e; }
            }
          }
        }
      } catch (e) {
        if (!(e instanceof Exit)) throw e;
        status = e.status;
      }
      try {
        for (const r of this.prog.rules) if (r.end) await this.block(r.action!);
      } catch (e) {
        if (!(e instanceof Exit)) throw e;
        status = e.status;
      }
    } finally {
      for (const [f, parts] of this.files) await writeFileAt(this.sh, f, Buffer.from(parts.join('')), true);
    }
    return status;
  }

  #tick(): void {
    if (++this.#steps > this.#maxSteps) throw overLimit('runLoopIterations', `awk ran more than ${this.#maxSteps} loop iterations and records in all`, 'a loop that does not end, or more work than a RUN is interpreted for');
  }

  async record(): Promise<void> {
    for (const [i, r] of this.prog.rules.entries()) {
      if (r.begin || r.end) continue;
      let hit: boolean;
      if (r.range) {
        if (this.#ranges.get(i)) { hit = true; if (this.truthy(await this.eval(r.range[1]))) this.#ranges.set(i, false); } else if (this.truthy(await this.eval(r.range[0]))) { hit = true; this.#ranges.set(i, !this.truthy(await this.eval(r.range[1]))); } else hit = false;
      } else hit = r.pattern ? this.truthy(await this.eval(r.pattern)) : true;
      if (!hit) continue;
      if (r.action) await this.block(r.action); else this.io.out(this.fields[0]! + this.str(this.get('ORS')));
    }
  }

  setRecord(line: string): void {
    this.fields = [line, ...this.split(line, this.str(this.get('FS')))];
    this.#nf = this.fields.length - 1;
    this.globals.set('NF', this.#nf);
  }

  split(s: string, fs: string): string[] {
    if (fs === ' ') return s.split(/[ \t\n]+/).filter((x) => x !== '');
    if (s === '') return [];
    if (fs === '') return [...s];
    if (fs.length === 1 && fs !== '\\') return s.split(fs === '\t' ? '\t' : fs);
    return s.split(this.regex(fs));
  }

  regex(src: string): RegExp {
    let re = this.#regexes.get(src);
    if (!re) { re = posixRegExp(src, { syntax: 'ere', what: 'awk' }); this.#regexes.set(src, re); }
    return re;
  }

  // Values.
  num(v: V | undefined): number {
    if (typeof v === 'number') return v;
    const s = v instanceof StrNum ? v.s : v ?? '';
    const m = /^\s*[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)/.exec(s);
    return m ? Number(m[0]) : 0;
  }

  str(v: V | undefined, fmt = 'CONVFMT'): string {
    if (typeof v === 'number') {
      if (Number.isInteger(v) && Math.abs(v) < 1e16) return String(v);
      if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
      return this.sprintf(this.str(this.get(fmt)), [v]);
    }
    return v instanceof StrNum ? v.s : v ?? '';
  }

  truthy(v: V): boolean {
    if (typeof v === 'number') return v !== 0;
    if (v instanceof StrNum) return NUMERIC.test(v.s) ? Number(v.s) !== 0 : v.s !== '';
    return v !== '';
  }

  #numeric(v: V): boolean {
    return typeof v === 'number' || (v instanceof StrNum && NUMERIC.test(v.s));
  }

  // Variables.
  get(name: string): V {
    const frame = this.frames.at(-1);
    const v = frame?.has(name) ? frame.get(name) : this.globals.get(name);
    if (name === 'NF') return this.#nf;
    if (v instanceof Map) throw new RunError(`awk: can't use array ${name} in scalar context`, 2);
    return v ?? '';
  }

  set(name: string, v: V): void {
    const frame = this.frames.at(-1);
    if (frame?.has(name)) frame.set(name, v); else this.globals.set(name, v);
    if (name === 'NF') this.#setNf(this.num(v));
  }

  array(name: string): Arr {
    const frame = this.frames.at(-1);
    const scope = frame?.has(name) ? frame : this.globals;
    let a = scope.get(name);
    if (a === undefined || a === '') { a = new Map(); scope.set(name, a); }
    if (!(a instanceof Map)) throw new RunError(`awk: can't use scalar ${name} as array`, 2);
    return a;
  }

  field(i: number): V {
    if (i < 0) throw new RunError('awk: trying to access out of range field', 2);
    return i === 0 ? new StrNum(this.fields[0]!) : i <= this.#nf ? new StrNum(this.fields[i] ?? '') : '';
  }

  setField(i: number, v: string): void {
    if (i === 0) { this.setRecord(v); return; }
    while (this.fields.length <= i) this.fields.push('');
    this.fields[i] = v;
    this.#nf = Math.max(this.#nf, i);
    this.#rebuild();
  }

  #setNf(n: number): void {
    this.fields.length = Math.max(1, n + 1);
    while (this.fields.length < n + 1) this.fields.push('');
    this.#nf = n;
    this.#rebuild();
  }

  #rebuild(): void {
    this.fields[0] = this.fields.slice(1, this.#nf + 1).join(this.str(this.get('OFS')));
    this.globals.set('NF', this.#nf);
  }

  // Statements.
  async block(list: Stmt[]): Promise<void> {
    for (const s of list) await this.stmt(s);
  }

  async loop(body: Stmt): Promise<boolean> {
    this.#tick();
    try { await this.stmt(body); } catch (e) {
      if (e instanceof Break) return false;
      if (!(e instanceof Continue)) throw e;
    }
    return true;
  }

  async stmt(s: Stmt): Promise<void> {
    switch (s.k) {
      case 'expr': await this.eval(s.e); return;
      case 'block': await this.block(s.body); return;
      case 'print': {
        const vals = await Promise.all(s.args.map((a) => this.eval(a)));
        let text: string;
        if (s.printf) {
          if (vals.length === 0) throw new RunError('awk: printf: no format', 2);
          text = this.sprintf(this.str(vals[0]), vals.slice(1));
        } else {
          text = (vals.length === 0 ? [this.fields[0]!] : vals.map((v) => this.str(v, 'OFMT'))).join(this.str(this.get('OFS'))) + this.str(this.get('ORS'));
        }
        if (!s.to) { this.io.out(text); return; }
        const file = this.str(await this.eval(s.to.e));
        if (file === '/dev/stdout' || file === '-') { this.io.out(text); return; }
        if (file === '/dev/stderr') { this.io.err(text); return; }
        let parts = this.files.get(file);
        if (!parts) {
          parts = [];
          this.files.set(file, parts);
          if (s.to.mode === '>') await writeFileAt(this.sh, file, Buffer.alloc(0), false);
        }
        parts.push(text);
        return;
      }
      case 'if': if (this.truthy(await this.eval(s.c))) await this.stmt(s.then); else if (s.else) await this.stmt(s.else); return;
      case 'while': while (this.truthy(await this.eval(s.c))) if (!(await this.loop(s.body))) break; return;
      case 'do': do { if (!(await this.loop(s.body))) break; } while (this.truthy(await this.eval(s.c))); return;
      case 'for':
        if (s.init) await this.stmt(s.init);
        while (!s.c || this.truthy(await this.eval(s.c))) {
          if (!(await this.loop(s.body))) break;
          if (s.step) await this.stmt(s.step);
        }
        return;
      case 'forin': {
        for (const k of [...this.array(s.arr).keys()]) {
          this.set(s.v, new StrNum(k));
          if (!(await this.loop(s.body))) break;
        }
        return;
      }
      case 'next': throw new Next();
      case 'exit': throw new Exit(s.e ? this.num(await this.eval(s.e)) & 255 : 0);
      case 'break': throw new Break();
      case 'continue': throw new Continue();
      case 'return': throw new Return(s.e ? await this.eval(s.e) : '');
      case 'delete': {
        const a = this.array(s.name);
        if (!s.keys) a.clear(); else a.delete(await this.key(s.keys));
        return;
      }
      default: throw refuse(s.k);
    }
  }

  async key(keys: Expr[]): Promise<string> {
    const parts: string[] = [];
    for (const k of keys) parts.push(this.str(await this.eval(k)));
    return parts.join(this.str(this.get('SUBSEP')));
  }

  async assignTo(target: Expr, v: V): Promise<V> {
    if (target.k === 'var') this.set(target.name, v);
    else if (target.k === 'field') this.setField(Math.trunc(this.num(await this.eval(target.e))), this.str(v));
    else if (target.k === 'index') this.array(target.name).set(await this.key(target.keys), v);
    return v;
  }

  async eval(e: Expr): Promise<V> {
    switch (e.k) {
      case 'num': return e.v;
      case 'str': return e.v;
      case 're': return Number(this.regex(e.src).test(this.fields[0]!));
      case 'group': return this.eval(e.e);
      case 'var': return this.get(e.name);
      case 'field': return this.field(Math.trunc(this.num(await this.eval(e.e))));
      case 'index': return this.array(e.name).get(await this.key(e.keys)) ?? '';
      case 'in': return Number(this.array(e.name).has(await this.key(e.keys)));
      case 'assign': {
        const v = await this.eval(e.e);
        if (e.op === '=') return this.assignTo(e.target, v);
        const cur = this.num(await this.eval(e.target));
        return this.assignTo(e.target, arith(e.op.slice(0, -1), cur, this.num(v)));
      }
      case 'incdec': {
        const cur = this.num(await this.eval(e.target));
        const next = e.op === '++' ? cur + 1 : cur - 1;
        await this.assignTo(e.target, next);
        return e.prefix ? next : cur;
      }
      case 'cond': return this.truthy(await this.eval(e.c)) ? this.eval(e.a) : this.eval(e.b);
      case 'un': {
        const v = await this.eval(e.e);
        return e.op === '!' ? Number(!this.truthy(v)) : e.op === '-' ? -this.num(v) : this.num(v);
      }
      case 'match': {
        const s = this.str(await this.eval(e.a));
        const re = e.re.k === 're' ? this.regex(e.re.src) : this.regex(this.str(await this.eval(e.re)));
        return Number(re.test(s) !== e.neg);
      }
      case 'bin': {
        if (e.op === '&&') return Number(this.truthy(await this.eval(e.a)) && this.truthy(await this.eval(e.b)));
        if (e.op === '||') return Number(this.truthy(await this.eval(e.a)) || this.truthy(await this.eval(e.b)));
        const a = await this.eval(e.a);
        const b = await this.eval(e.b);
        if (e.op === 'cat') return this.str(a) + this.str(b);
        if (['<', '<=', '==', '!=', '>', '>='].includes(e.op)) {
          const c = this.#numeric(a) && this.#numeric(b) ? Math.sign(this.num(a) - this.num(b)) : this.str(a) < this.str(b) ? -1 : this.str(a) > this.str(b) ? 1 : 0;
          return Number(e.op === '<' ? c < 0 : e.op === '<=' ? c <= 0 : e.op === '==' ? c === 0 : e.op === '!=' ? c !== 0 : e.op === '>' ? c > 0 : c >= 0);
        }
        return arith(e.op, this.num(a), this.num(b));
      }
      case 'call': return this.call(e.name, e.args);
    }
  }

  async call(name: string, args: Expr[]): Promise<V> {
    const fn = this.prog.functions.get(name);
    if (fn) {
      if (this.frames.length >= limit('runFunctionDepth')) throw overLimit('runFunctionDepth', `awk function ${name} called functions more than ${limit('runFunctionDepth')} deep`, 'a function that calls itself without end');
      const frame = new Map<string, V | Arr>();
      for (const [i, p] of fn.params.entries()) {
        const a = args[i];
        if (!a) { frame.set(p, ''); continue; }
        // An array is passed by reference; a variable not yet used becomes one if the function uses it so.
        if (a.k === 'var') {
          const scope = this.frames.at(-1)?.has(a.name) ? this.frames.at(-1)! : this.globals;
          const cur = scope.get(a.name);
          if (cur instanceof Map) { frame.set(p, cur); continue; }
          if (fn.arrays.has(p) && (cur === undefined || cur === '')) { frame.set(p, this.array(a.name)); continue; }
        }
        frame.set(p, await this.eval(a));
      }
      this.frames.push(frame);
      try { await this.block(fn.body); return ''; } catch (e) {
        if (e instanceof Return) return e.v;
        throw e;
      } finally { this.frames.pop(); }
    }
    return callBuiltin(this, name, args);
  }

  /** awk's printf: see format.ts. */
  sprintf(fmt: string, vals: V[]): string {
    return awkSprintf(fmt, vals, (v) => this.num(v), (v) => this.str(v));
  }
}

function arith(op: string, a: number, b: number): number {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': if (b === 0) throw new RunError('awk: division by zero', 2); return a / b;
    case '%': if (b === 0) throw new RunError('awk: division by zero in %', 2); return a % b;
    case '^': return a ** b;
    default: throw new RunError(`awk: unknown operator ${op}`, 2);
  }
}
