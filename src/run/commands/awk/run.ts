import { limit, overLimit } from '../../../util/limits.js';
import { RunError } from '../../errors.js';
import { writeFileAt } from '../../shell/interp.js';
import type { Io, ShellState } from '../../shell/state.js';
import { posixRegExp } from '../regex.js';
import { formatFloat } from '../text.js';
import { refuse, type Expr, type Program, type Stmt } from './parse.js';

// Runs a parsed awk program over its input, as busybox awk does: records split on newlines,
// fields on FS, values that are strings, numbers, or input that looks numeric (strnum).

/** Input text that compares as a number when it looks like one. */
class StrNum { constructor(readonly s: string) {} }

/** A value from outside the program (-v, VAR=VALUE operands): it compares as a number when it looks like one. */
export const StrNumOf = (s: string): StrNum => new StrNum(s);
type V = number | string | StrNum;
type Arr = Map<string, V>;

const NUMERIC = /^\s*[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)\s*$/;

class Next {}
class Exit { constructor(readonly status: number) {} }
class Break {}
class Continue {}
class Return { constructor(readonly v: V) {} }

export interface AwkInput { name: string; data: Buffer }

export class AwkRun {
  readonly globals = new Map<string, V | Arr>();
  readonly #frames: Map<string, V | Arr>[] = [];
  #fields: string[] = [''];
  #nf = 0;
  readonly #regexes = new Map<string, RegExp>();
  readonly #files = new Map<string, string[]>();
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
      for (const [f, parts] of this.#files) await writeFileAt(this.sh, f, Buffer.from(parts.join('')), true);
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
      if (r.action) await this.block(r.action); else this.io.out(this.#fields[0]! + this.str(this.get('ORS')));
    }
  }

  setRecord(line: string): void {
    this.#fields = [line, ...this.split(line, this.str(this.get('FS')))];
    this.#nf = this.#fields.length - 1;
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
    const frame = this.#frames.at(-1);
    const v = frame?.has(name) ? frame.get(name) : this.globals.get(name);
    if (name === 'NF') return this.#nf;
    if (v instanceof Map) throw new RunError(`awk: can't use array ${name} in scalar context`, 2);
    return v ?? '';
  }

  set(name: string, v: V): void {
    const frame = this.#frames.at(-1);
    if (frame?.has(name)) frame.set(name, v); else this.globals.set(name, v);
    if (name === 'NF') this.#setNf(this.num(v));
  }

  array(name: string): Arr {
    const frame = this.#frames.at(-1);
    const scope = frame?.has(name) ? frame : this.globals;
    let a = scope.get(name);
    if (a === undefined || a === '') { a = new Map(); scope.set(name, a); }
    if (!(a instanceof Map)) throw new RunError(`awk: can't use scalar ${name} as array`, 2);
    return a;
  }

  field(i: number): V {
    if (i < 0) throw new RunError('awk: trying to access out of range field', 2);
    return i === 0 ? new StrNum(this.#fields[0]!) : i <= this.#nf ? new StrNum(this.#fields[i] ?? '') : '';
  }

  setField(i: number, v: string): void {
    if (i === 0) { this.setRecord(v); return; }
    while (this.#fields.length <= i) this.#fields.push('');
    this.#fields[i] = v;
    this.#nf = Math.max(this.#nf, i);
    this.#rebuild();
  }

  #setNf(n: number): void {
    this.#fields.length = Math.max(1, n + 1);
    while (this.#fields.length < n + 1) this.#fields.push('');
    this.#nf = n;
    this.#rebuild();
  }

  #rebuild(): void {
    this.#fields[0] = this.#fields.slice(1, this.#nf + 1).join(this.str(this.get('OFS')));
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
          text = (vals.length === 0 ? [this.#fields[0]!] : vals.map((v) => this.str(v, 'OFMT'))).join(this.str(this.get('OFS'))) + this.str(this.get('ORS'));
        }
        if (!s.to) { this.io.out(text); return; }
        const file = this.str(await this.eval(s.to.e));
        if (file === '/dev/stdout' || file === '-') { this.io.out(text); return; }
        if (file === '/dev/stderr') { this.io.err(text); return; }
        let parts = this.#files.get(file);
        if (!parts) {
          parts = [];
          this.#files.set(file, parts);
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
      case 're': return Number(this.regex(e.src).test(this.#fields[0]!));
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
      if (this.#frames.length >= limit('runFunctionDepth')) throw overLimit('runFunctionDepth', `awk function ${name} called functions more than ${limit('runFunctionDepth')} deep`, 'a function that calls itself without end');
      const frame = new Map<string, V | Arr>();
      for (const [i, p] of fn.params.entries()) {
        const a = args[i];
        if (!a) { frame.set(p, ''); continue; }
        // An array is passed by reference; a variable not yet used becomes one if the function uses it so.
        if (a.k === 'var') {
          const scope = this.#frames.at(-1)?.has(a.name) ? this.#frames.at(-1)! : this.globals;
          const cur = scope.get(a.name);
          if (cur instanceof Map) { frame.set(p, cur); continue; }
          if (fn.arrays.has(p) && (cur === undefined || cur === '')) { frame.set(p, this.array(a.name)); continue; }
        }
        frame.set(p, await this.eval(a));
      }
      this.#frames.push(frame);
      try { await this.block(fn.body); return ''; } catch (e) {
        if (e instanceof Return) return e.v;
        throw e;
      } finally { this.#frames.pop(); }
    }
    const v = async (i: number) => (args[i] ? this.eval(args[i]!) : '');
    const s = async (i: number) => this.str(await v(i));
    switch (name) {
      case 'length': {
        if (args[0]?.k === 'var') {
          const scope = this.#frames.at(-1)?.has(args[0].name) ? this.#frames.at(-1)! : this.globals;
          const cur = scope.get(args[0].name);
          if (cur instanceof Map) return cur.size;
        }
        return [...(args.length ? await s(0) : this.#fields[0]!)].length;
      }
      case 'substr': {
        const str = [...(await s(0))];
        const m = Math.round(this.num(await v(1)));
        const n = args.length > 2 ? Math.round(this.num(await v(2))) : Infinity;
        const from = Math.max(1, m);
        const to = n === Infinity ? str.length + 1 : Math.min(str.length + 1, m + n);
        return to <= from ? '' : str.slice(from - 1, to - 1).join('');
      }
      case 'index': return (await s(0)).indexOf(await s(1)) + 1;
      case 'split': {
        if (args[1]?.k !== 'var' && args[1]?.k !== 'index') throw new RunError('awk: split needs an array', 2);
        const name2 = (args[1] as { name: string }).name;
        const a = this.array(name2);
        a.clear();
        const sep = args[2] ? (args[2].k === 're' ? args[2].src : await s(2)) : this.str(this.get('FS'));
        const parts = args[2]?.k === 're' ? ((await s(0)) === '' ? [] : (await s(0)).split(this.regex(sep))) : this.split(await s(0), sep);
        parts.forEach((p, i) => a.set(String(i + 1), new StrNum(p)));
        return parts.length;
      }
      case 'sub': case 'gsub': {
        const re = args[0]?.k === 're' ? this.regex(args[0].src) : this.regex(await s(0));
        const rep = await s(1);
        const target: Expr = args[2] ?? { k: 'field', e: { k: 'num', v: 0 } };
        const cur = this.str(await this.eval(target));
        let n = 0;
        const g = new RegExp(re.source, `${re.flags.replace('g', '')}${name === 'gsub' ? 'g' : ''}`);
        const out = cur.replace(g, (m) => { n++; return rep.replace(/\\\\|\\&|&/g, (x) => (x === '&' ? m : x === '\\&' ? '&' : '\\')); });
        if (n > 0) await this.assignTo(target, out);
        return n;
      }
      case 'match': {
        const str = await s(0);
        const re = args[1]?.k === 're' ? this.regex(args[1].src) : this.regex(await s(1));
        const m = re.exec(str);
        this.globals.set('RSTART', m ? [...str.slice(0, m.index)].length + 1 : 0);
        this.globals.set('RLENGTH', m ? [...m[0]].length : -1);
        return m ? [...str.slice(0, m.index)].length + 1 : 0;
      }
      case 'sprintf': return args.length ? this.sprintf(await s(0), await Promise.all(args.slice(1).map((a) => this.eval(a)))) : '';
      case 'tolower': return (await s(0)).toLowerCase();
      case 'toupper': return (await s(0)).toUpperCase();
      case 'int': return Math.trunc(this.num(await v(0)));
      case 'sqrt': return Math.sqrt(this.num(await v(0)));
      case 'exp': return Math.exp(this.num(await v(0)));
      case 'log': return Math.log(this.num(await v(0)));
      case 'sin': return Math.sin(this.num(await v(0)));
      case 'cos': return Math.cos(this.num(await v(0)));
      case 'atan2': return Math.atan2(this.num(await v(0)), this.num(await v(1)));
      case 'close': {
        const f = await s(0);
        const parts = this.#files.get(f);
        if (parts) { await writeFileAt(this.sh, f, Buffer.from(parts.join('')), true); this.#files.delete(f); }
        return 0;
      }
      case 'fflush': return 0;
      case 'system': throw refuse('system() (a command would be executed)');
      case 'rand': case 'srand': throw refuse(`${name}() (a layer would differ from build to build)`);
      default: throw new RunError(`awk: calling undefined function ${name}`, 2);
    }
  }

  /** awk's printf: %c %d %i %o %u %x %X %e %f %g %s %%, flags, width and precision (also *). */
  sprintf(fmt: string, vals: V[]): string {
    let k = 0;
    const next = () => vals[k++] ?? '';
    return fmt.replace(/%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d*))?([cdiouxXeEfFgGs%])/g, (_m, flags: string, w: string | undefined, prec: string | undefined, conv: string) => {
      if (conv === '%') return '%';
      const width = w === '*' ? this.num(next()) : Number(w ?? 0);
      const p = prec === '*' ? this.num(next()) : prec === undefined ? undefined : Number(prec || 0);
      const v = next();
      let s: string;
      switch (conv) {
        case 'c': s = typeof v === 'number' ? String.fromCodePoint(v) : this.str(v).slice(0, 1); break;
        case 's': s = p === undefined ? this.str(v) : [...this.str(v)].slice(0, p).join(''); break;
        case 'd': case 'i': case 'u': {
          const n = Math.trunc(this.num(v));
          s = String(Math.abs(n));
          if (p !== undefined) s = s.padStart(p, '0');
          s = n < 0 ? `-${s}` : flags.includes('+') ? `+${s}` : flags.includes(' ') ? ` ${s}` : s;
          break;
        }
        case 'o': case 'x': case 'X': {
          const n = Math.trunc(this.num(v));
          s = (n >>> 0).toString(conv === 'o' ? 8 : 16);
          if (conv === 'X') s = s.toUpperCase();
          if (p !== undefined) s = s.padStart(p, '0');
          break;
        }
        default: s = formatFloat(this.num(v), conv, p ?? 6, flags);
      }
      if (s.length < width) {
        if (flags.includes('-')) s = s.padEnd(width);
        else if (flags.includes('0') && !'cs'.includes(conv)) { const sign = /^[-+ ]/.test(s) ? s[0]! : ''; s = sign + s.slice(sign.length).padStart(width - sign.length, '0'); } else s = s.padStart(width);
      }
      return s;
    });
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
