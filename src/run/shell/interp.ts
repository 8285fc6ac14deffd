import { RunError, wouldExecute } from '../errors.js';
import { limit, overLimit } from '../../util/limits.js';
import { Inode } from '../fs/run-fs.js';
import { expandFields, expandPattern, expandString, shellPattern } from './expand.js';
import { absPath, newMeta, type Io, type ShellState } from './state.js';
import { OP, parseShell, typeOf, type ShNode } from './syntax.js';
import { BUILTINS } from './builtins.js';
import { commandName } from './precheck.js';
import { Sink } from './sink.js';
import { findProgram, whereProgram } from '../run.js';

/** Builtins that stand for a program of the image: run only when the image has it. */
const SHELL_NAMES = new Set(['sh', 'ash', 'bash']);

/** How many statements run between two turns of the event loop (for signal handlers, progress). */
const YIELD_EVERY = 256;

/** `exit`, or `set -e` ending the script: unwinds to the top with a status. */
export class ExitSignal { constructor(readonly status: number) {} }

/** `break N` and `continue N`: unwind to the Nth enclosing loop. */
export class LoopSignal { constructor(readonly kind: 'break' | 'continue', readonly n: number) {} }

/** `return` in a function: unwinds to the call. Outside a function it ends the script, as `exit`. */
export class ReturnSignal extends ExitSignal {}

/** Interprets a parsed script over the RUN's filesystem. Nothing is executed: every command is native. */
export class Interpreter {
  private iterations = 0;
  private depth = 0;
  private steps = 0;
  /** The stdin of the command being expanded: what a $(…) in it reads. */
  private stdin: Buffer = Buffer.alloc(0);
  /** How many loops enclose what runs now: `break` outside one does nothing, as in ash. */
  loopDepth = 0;
  /** `trap CMD EXIT`: run when the script ends, however it ends. */
  exitTrap: string | undefined;
  private readonly maxIterations = limit('runLoopIterations');
  private readonly maxDepth = limit('runFunctionDepth');

  constructor(readonly sh: ShellState, readonly trace: (line: string) => void) {
    sh.runText = undefined;
  }

  async runFile(file: ShNode, io: Io): Promise<number> {
    return this.asShell(file.Stmts, io, false);
  }

  /**
   * Runs a script or a subshell to its end (`exit` included), then its EXIT trap if it set one:
   * a subshell starts with none and its own runs when it ends, as in ash.
   */
  private async asShell(list: ShNode[], io: Io, cond: boolean): Promise<number> {
    const outer = this.exitTrap;
    this.exitTrap = undefined;
    let status: number;
    try {
      try {
        status = await this.stmts(list, io, cond);
      } catch (e) {
        if (!(e instanceof ExitSignal)) throw e;
        status = e.status;
      }
      const trap = this.exitTrap;
      if (trap === undefined) return status;
      this.exitTrap = undefined;
      this.sh.lastStatus = status;
      try {
        await this.stmts((await parseShell(trap, 'trap')).Stmts, io, true);
      } catch (e) {
        if (!(e instanceof ExitSignal)) throw e;
        return e.status;
      }
      return status;
    } finally {
      this.exitTrap = outer;
    }
  }

  /** Runs one pass of a loop's body: a `break` or `continue` aimed at this loop is answered here. */
  private async loopBody(list: ShNode[], io: Io, cond: boolean): Promise<{ status: number; stop: boolean }> {
    try {
      return { status: await this.stmts(list, io, cond), stop: false };
    } catch (e) {
      if (!(e instanceof LoopSignal)) throw e;
      if (e.n > 1) throw new LoopSignal(e.kind, e.n - 1);
      return { status: 0, stop: e.kind === 'break' };
    }
  }

  async stmts(list: ShNode[], io: Io, cond: boolean): Promise<number> {
    let status = 0;
    for (const s of list) status = await this.stmt(s, io, cond);
    return status;
  }

  async stmt(s: ShNode, io: Io, cond: boolean): Promise<number> {
    // Statements can all complete synchronously; yield now and then so a SIGTERM's handler runs.
    if (++this.steps % YIELD_EVERY === 0) await new Promise<void>((r) => setImmediate(r));
    if (s.Background) throw new RunError('background jobs (&) are not interpreted here', 2);
    let status: number;
    try {
      status = await this.withRedirs(s.Redirs, io, async (rio) => {
        // A $(…) in this command reads the command's stdin, as in sh.
        const outer = this.stdin;
        this.stdin = rio.stdin;
        try { return await this.command(s.Cmd, rio, cond || s.Negated); } finally { this.stdin = outer; }
      });
    } catch (e) {
      // A redirection or expansion that fails fails its command, as in sh.
      if (!(e instanceof RunError)) throw e;
      io.err(`sh: ${e.message}\n`);
      status = e.status;
    }
    if (s.Negated) status = status === 0 ? 1 : 0;
    this.sh.lastStatus = status;
    if (status !== 0 && this.sh.opts.errexit && !cond && !s.Negated && !isAndOr(s.Cmd)) throw new ExitSignal(status);
    return status;
  }

  async command(c: ShNode, io: Io, cond: boolean): Promise<number> {
    if (!c) return 0;
    const t = typeOf(c);
    switch (t) {
      case 'CallExpr': return this.call(c, io);
      case 'BinaryCmd': return this.binary(c, io, cond);
      case 'Block': return this.stmts(c.Stmts, io, cond);
      case 'Subshell': return this.subshell(c.Stmts, io, cond);
      case 'IfClause': return this.ifClause(c, io, cond);
      case 'ForClause': return this.forClause(c, io, cond);
      case 'WhileClause': return this.whileClause(c, io, cond);
      case 'CaseClause': return this.caseClause(c, io, cond);
      case 'FuncDecl': this.sh.functions.set(c.Name.Value, c.Body); return 0;
      case 'DeclClause': return this.decl(c);
      default: throw new RunError(`shell syntax not interpreted here: ${t}`, 2);
    }
  }

  async binary(c: ShNode, io: Io, cond: boolean): Promise<number> {
    if (c.Op === OP.and) {
      const a = await this.stmt(c.X, io, true);
      return a !== 0 ? a : this.stmt(c.Y, io, cond);
    }
    if (c.Op === OP.or) {
      const a = await this.stmt(c.X, io, true);
      return a === 0 ? 0 : this.stmt(c.Y, io, cond);
    }
    if (c.Op === OP.pipe || c.Op === OP.pipeAll) {
      // Each side runs to completion in turn: the left's output is the right's input.
      const pipe = new Sink('runFileSize', 'a pipe');
      const left = await this.stmt(c.X, { ...io, out: pipe.push, ...(c.Op === OP.pipeAll ? { err: pipe.push } : {}) }, true);
      const right = await this.stmt(c.Y, { ...io, stdin: pipe.bytes() }, cond);
      return this.sh.opts.pipefail && right === 0 ? left : right;
    }
    throw new RunError('shell operator not interpreted here', 2);
  }

  async subshell(list: ShNode[], io: Io, cond: boolean): Promise<number> {
    const saved = { cwd: this.sh.cwd, vars: new Map(this.sh.vars), exported: new Set(this.sh.exported), opts: { ...this.sh.opts }, umask: this.sh.umask, args: this.sh.args, functions: new Map(this.sh.functions) };
    try {
      return await this.asShell(list, io, cond);
    } finally {
      Object.assign(this.sh, saved);
    }
  }

  async ifClause(c: ShNode, io: Io, cond: boolean): Promise<number> {
    for (let clause = c; clause; clause = clause.Else) {
      if (clause.Cond.length === 0) return this.stmts(clause.Then, io, cond); // else
      if ((await this.stmts(clause.Cond, io, true)) === 0) return this.stmts(clause.Then, io, cond);
    }
    return 0;
  }

  async forClause(c: ShNode, io: Io, cond: boolean): Promise<number> {
    const loop = c.Loop;
    if (typeOf(loop) !== 'WordIter') throw new RunError('C-style for loops are not interpreted here', 2);
    const items = await expandFields(loop.Items, this.sh, this.subst);
    let status = 0;
    this.loopDepth++;
    try {
      for (const v of items) {
        this.sh.vars.set(loop.Name.Value, v);
        const r = await this.loopBody(c.Do, io, cond);
        status = r.status;
        if (r.stop) break;
      }
    } finally { this.loopDepth--; }
    return status;
  }

  async whileClause(c: ShNode, io: Io, cond: boolean): Promise<number> {
    let status = 0;
    this.loopDepth++;
    try {
      for (let n = 0; ; n++) {
        // Counted across every loop of the RUN, and fatal: a status a script could ignore would let
        // an outer loop go on, or a loop cut short give a wrong image with exit 0.
        if (++this.iterations > this.maxIterations) throw overLimit('runLoopIterations', `${c.Until ? 'until' : 'while'} loops ran more than ${this.maxIterations} times in all`, 'a loop that does not end, or more work than a RUN is interpreted for');
        const test = await this.loopBody(c.Cond, io, true);
        if (test.stop) return status;
        if ((test.status === 0) === Boolean(c.Until)) return status;
        const r = await this.loopBody(c.Do, io, cond);
        status = r.status;
        if (r.stop) return status;
      }
    } finally { this.loopDepth--; }
  }

  async caseClause(c: ShNode, io: Io, cond: boolean): Promise<number> {
    const word = await expandString(c.Word, this.sh, this.subst);
    for (const item of c.Items as ShNode[]) {
      for (const p of item.Patterns as ShNode[]) {
        if (shellPattern(await expandPattern(p, this.sh, this.subst), true).test(word)) return this.stmts(item.Stmts, io, cond);
      }
    }
    return 0;
  }

  async decl(c: ShNode): Promise<number> {
    const variant: string = c.Variant.Value;
    if (variant !== 'export' && variant !== 'local' && variant !== 'readonly') throw new RunError(`${variant}: not interpreted here`, 2);
    for (const a of c.Args as ShNode[]) {
      const name: string | undefined = a.Name?.Value;
      if (!name) continue;
      if (!a.Naked || a.Value) this.sh.vars.set(name, await expandString(a.Value, this.sh, this.subst));
      if (variant === 'export') this.sh.exported.add(name);
    }
    return 0;
  }

  readonly subst = async (stmts: ShNode[]): Promise<string> => {
    const sink = new Sink('runStringSize', 'a command substitution');
    const status = await this.subshell(stmts, { stdin: this.stdin, out: sink.push, err: () => {} }, true);
    this.sh.lastStatus = status;
    return sink.bytes().toString('utf8');
  };

  async call(c: ShNode, io: Io): Promise<number> {
    const assigns: [string, string][] = [];
    for (const a of c.Assigns as ShNode[]) assigns.push([a.Name.Value, await expandString(a.Value, this.sh, this.subst)]);
    const argv = await expandFields(c.Args, this.sh, this.subst);
    if (argv.length === 0) {
      for (const [k, v] of assigns) this.sh.vars.set(k, v);
      return this.sh.lastStatus;
    }
    if (this.sh.opts.xtrace) this.trace(`+ ${[...assigns.map(([k, v]) => `${k}=${v}`), ...argv].join(' ')}`);
    // Assignments before a command are that command's environment only (exported to it).
    const saved = assigns.map(([k]) => [k, this.sh.vars.get(k), this.sh.exported.has(k)] as const);
    for (const [k, v] of assigns) { this.sh.vars.set(k, v); this.sh.exported.add(k); }
    try {
      return await this.dispatch(argv, io);
    } finally {
      for (const [k, v, was] of saved) {
        if (v === undefined) this.sh.vars.delete(k); else this.sh.vars.set(k, v);
        if (!was) this.sh.exported.delete(k);
      }
    }
  }

  /** What `command -v` prints for a name: the name for a function or builtin, the path of a command; undefined if none. */
  async whereIs(name: string): Promise<string | undefined> {
    if (this.sh.functions.has(name) || (BUILTINS.has(name) && !SHELL_NAMES.has(name))) return name;
    return whereProgram(this.sh.fs, name, this.sh.vars.get('PATH') ?? '');
  }

  async dispatch(argv: string[], io: Io, opts: { functions: boolean } = { functions: true }): Promise<number> {
    const [name, ...args] = argv as [string, ...string[]];
    const fn = opts.functions ? this.sh.functions.get(name) : undefined;
    if (fn) {
      if (++this.depth > this.maxDepth) throw overLimit('runFunctionDepth', `the shell function ${name} called functions more than ${this.maxDepth} deep`, 'a function that calls itself without end');
      const saved = this.sh.args;
      this.sh.args = args;
      try {
        return await this.stmt(fn, io, false);
      } catch (e) {
        if (e instanceof ReturnSignal) return e.status;
        throw e;
      } finally {
        this.depth--;
        this.sh.args = saved;
      }
    }
    const c = commandName(name);
    const builtin = BUILTINS.get(c);
    try {
      const native = builtin ? undefined : this.sh.commands.get(c);
      if (!builtin && !native) throw wouldExecute(name);
      // As in a container, the program must be in the image: busybox's applet links, apk's
      // binary, or the shell `sh -c`/`bash -c` names (an image without bash answers 127).
      if ((native || SHELL_NAMES.has(c)) && !(await findProgram(this.sh.fs, name, this.sh.vars.get('PATH') ?? ''))) {
        io.err(`sh: ${name}: not found\n`);
        return 127;
      }
      return builtin ? await builtin(args, io, this.sh, this) : await native!(args, io, this.sh);
    } catch (e) {
      if (e instanceof RunError) { io.err(`${c}: ${e.message}\n`); return e.status; }
      throw e;
    }
  }

  async withRedirs(redirs: ShNode[], io: Io, run: (io: Io) => Promise<number>): Promise<number> {
    if (redirs.length === 0) return run(io);
    let cur: Io = { ...io };
    const files: { path: string; sink: Sink; append: boolean }[] = [];
    const target = (path: string, append: boolean) => {
      if (path === '/dev/null') return () => {};
      const f = { path, sink: new Sink('runFileSize', `the redirection to ${path}`), append };
      files.push(f);
      return f.sink.push;
    };
    for (const r of redirs) {
      const fd = r.N ? Number(r.N.Value) : undefined;
      const op: number = r.Op;
      if (op === OP.hdoc || op === OP.dashHdoc) {
        const quoted = r.Word.Parts.some((p: ShNode) => typeOf(p) !== 'Lit');
        let body = quoted ? literalHdoc(r.Hdoc) : await expandString(r.Hdoc, this.sh, this.subst);
        if (op === OP.dashHdoc) body = body.replace(/^\t+/gm, '');
        cur = { ...cur, stdin: Buffer.from(body) };
        continue;
      }
      const word = await expandString(r.Word, this.sh, this.subst);
      switch (op) {
        case OP.wordHdoc: cur = { ...cur, stdin: Buffer.from(`${word}\n`) }; break;
        case OP.rdrIn: cur = { ...cur, stdin: await this.readFile(word) }; break;
        case OP.rdrOut: case OP.clbOut: case OP.appOut: {
          const w = target(word, op === OP.appOut);
          if (fd === 2) cur = { ...cur, err: (d) => w(d) }; else cur = { ...cur, out: w };
          break;
        }
        case OP.rdrAll: case OP.appAll: {
          const w = target(word, op === OP.appAll);
          cur = { ...cur, out: w, err: (d) => w(d) };
          break;
        }
        case OP.dplOut: {
          if (word === '1' && fd === 2) cur = { ...cur, err: (d) => cur.out(d) };
          else if (word === '2' && (fd ?? 1) === 1) { const e = cur.err; cur = { ...cur, out: (d) => e(Buffer.from(d).toString()) }; }
          else if (word === '-') cur = fd === 2 ? { ...cur, err: () => {} } : { ...cur, out: () => {} };
          else throw new RunError(`redirection >&${word} is not interpreted here`, 2);
          break;
        }
        case OP.dplIn: break;
        default: throw new RunError('redirection not interpreted here', 2);
      }
    }
    // Files are opened (created or truncated) before the command runs, as the shell does.
    for (const f of files) await this.writeFile(f.path, Buffer.alloc(0), f.append);
    const status = await run(cur);
    for (const f of files) await this.writeFile(f.path, f.sink.bytes(), true);
    return status;
  }

  async readFile(path: string): Promise<Buffer> {
    const { node } = await this.sh.fs.resolve(absPath(this.sh, path), true);
    if (!node) throw new RunError(`can't open '${path}': No such file or directory`);
    if (node.type !== 'file') throw new RunError(`can't open '${path}': not a regular file`);
    return this.sh.fs.bytes(node);
  }

  /** Writes (or appends to) a file as `>`/`>>` do: a new file belongs to the RUN's user. */
  async writeFile(path: string, data: Buffer, append: boolean): Promise<void> {
    await writeFileAt(this.sh, path, data, append);
  }
}

/** Writes or appends to a file through symlinks; an existing file keeps its inode, owner and mode. */
export async function writeFileAt(sh: ShellState, path: string, data: Buffer, append: boolean): Promise<void> {
  const { path: p, node } = await sh.fs.resolve(absPath(sh, path), true);
  if (node && node.type === 'directory') throw new RunError(`can't create '${path}': Is a directory`);
  const parent = await sh.fs.resolve(`/${p.slice(0, Math.max(0, p.lastIndexOf('/')))}`, true);
  if (parent.node?.type !== 'directory') throw new RunError(`can't create '${path}': No such file or directory`);
  const max = limit('runFileSize');
  const tooLarge = () => overLimit('runFileSize', `${path} would be larger than ${max} bytes`, 'more data than a natively interpreted RUN holds in memory');
  if (data.length > max) throw tooLarge();
  if (node && node.type === 'file') {
    const old = append ? await sh.fs.bytes(node) : Buffer.alloc(0);
    if (old.length + data.length > max) throw tooLarge();
    node.ino.data = Buffer.concat([old, data]);
    node.ino.lower = undefined;
    sh.fs.set(p, { type: 'file', ino: node.ino });
    return;
  }
  sh.fs.set(p, { type: 'file', ino: new Inode(newMeta(sh, 0o666), data) });
}

function isAndOr(c: ShNode): boolean {
  return c && typeOf(c) === 'BinaryCmd' && (c.Op === OP.and || c.Op === OP.or);
}

function literalHdoc(w: ShNode | null): string {
  if (!w) return '';
  return (w.Parts as ShNode[]).map((p) => p.Value ?? '').join('');
}
