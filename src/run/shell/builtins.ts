import { RunError } from '../errors.js';
import type { Interpreter } from './interp.js';
import { absPath, type Io, type ShellState } from './state.js';
import { MORE_BUILTINS } from './builtins-more.js';
import { parseShell } from './syntax.js';

/** A shell builtin: it may change the shell itself (cd, set, exit). */
export type Builtin = (args: string[], io: Io, sh: ShellState, interp: Interpreter) => Promise<number>;

const OPTION_LETTERS: Record<string, keyof ShellState['opts']> = { e: 'errexit', u: 'nounset', x: 'xtrace', f: 'noglob' };

function setOptions(args: string[], sh: ShellState): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-o' || a === '+o') {
      const name = args[++i];
      const on = a === '-o';
      if (name === 'pipefail') sh.opts.pipefail = on;
      else if (name === 'errexit' || name === 'nounset' || name === 'xtrace' || name === 'noglob') sh.opts[name] = on;
      else throw new RunError(`set: unknown option ${name ?? ''}`, 2);
      continue;
    }
    // `set -- a b` and `set a b` set the positional parameters.
    if (a === '--') { sh.args = args.slice(i + 1); break; }
    if (!/^[-+][a-zA-Z]+$/.test(a)) { sh.args = args.slice(i); break; }
    for (const ch of a.slice(1)) {
      // -eo pipefail (as SHELL ["/bin/ash", "-eo", "pipefail", "-c"] gives it): o takes the next word.
      if (ch === 'o') { setOptions([`${a[0]}o`, args[++i] ?? ''], sh); continue; }
      const k = OPTION_LETTERS[ch];
      if (!k) throw new RunError(`set: -${ch}: option not interpreted here`, 2);
      sh.opts[k] = a[0] === '-';
    }
  }
}

export const BUILTINS = new Map<string, Builtin>([
  [':', async () => 0],
  ['true', async () => 0],
  ['false', async () => 1],
  ['exit', async (args, _io, sh) => {
    const { ExitSignal } = await import('./interp.js');
    throw new ExitSignal(args[0] === undefined ? sh.lastStatus : Number(args[0]) & 255);
  }],
  ['cd', async (args, _io, sh) => {
    const to = args[0] === undefined || args[0] === '' ? (sh.vars.get('HOME') ?? '/') : args[0] === '-' ? (sh.vars.get('OLDPWD') ?? sh.cwd) : args[0];
    const target = absPath(sh, to);
    const { path, node } = await sh.fs.resolve(target, true);
    if (node?.type !== 'directory') throw new RunError(`can't cd to ${to}: No such file or directory`, 2);
    sh.vars.set('OLDPWD', sh.cwd);
    sh.cwd = `/${path}`;
    sh.vars.set('PWD', sh.cwd);
    return 0;
  }],
  ['set', async (args, _io, sh) => { setOptions(args, sh); return 0; }],
  ['unset', async (args, _io, sh) => {
    for (const a of args) if (a !== '-v' && a !== '-f') { sh.vars.delete(a); sh.exported.delete(a); sh.functions.delete(a); }
    return 0;
  }],
  ['umask', async (args, io, sh) => {
    if (args.length === 0) { io.out(`${sh.umask.toString(8).padStart(4, '0')}\n`); return 0; }
    if (!/^[0-7]{1,4}$/.test(args[0]!)) throw new RunError(`umask: ${args[0]}: only octal masks are interpreted here`, 2);
    sh.umask = parseInt(args[0]!, 8);
    return 0;
  }],
  ['pwd', async (_a, io, sh) => { io.out(`${sh.cwd}\n`); return 0; }],
  ['return', async (args, _io, sh) => {
    const { ReturnSignal } = await import('./interp.js');
    throw new ReturnSignal(args[0] === undefined ? sh.lastStatus : Number(args[0]) & 255);
  }],
  ['shift', async (args, _io, sh) => {
    const n = args[0] === undefined ? 1 : Number(args[0]);
    if (!Number.isInteger(n) || n < 0) throw new RunError(`shift: Illegal number: ${args[0]}`, 2);
    if (n > sh.args.length) return 1;
    sh.args = sh.args.slice(n);
    return 0;
  }],
  ['eval', async (args, io, _sh, interp) => {
    const file = await parseShell(args.join(' '), 'eval');
    return interp.stmts(file.Stmts, io, false);
  }],
  ...['sh', 'ash', 'bash'].map((n) => [n, shellCommand] as [string, Builtin]),
  ...MORE_BUILTINS,
]);

/** `sh -c 'text'` (with -e, -x, -o pipefail before it) runs the text in a subshell of this one. */
async function shellCommand(args: string[], io: Io, sh: ShellState, interp: Interpreter): Promise<number> {
  const opts: string[] = [];
  let i = 0;
  for (; i < args.length && args[i] !== '-c'; i++) {
    if (args[i] === '-o') { opts.push(args[i]!, args[i + 1] ?? ''); i++; continue; }
    if (/^[-+][euxf]+$/.test(args[i]!)) { opts.push(args[i]!); continue; }
    throw new RunError(`sh ${args.join(' ')}: only "sh -c COMMAND" is interpreted here (a script file would have to be executed)`, 2);
  }
  if (args[i] !== '-c' || args[i + 1] === undefined) throw new RunError('sh: only "sh -c COMMAND" is interpreted here', 2);
  const file = await parseShell(args[i + 1]!, 'sh -c');
  const saved = { ...sh.opts };
  setOptions(opts, sh);
  try {
    return await interp.subshell(file.Stmts, io, false);
  } finally {
    sh.opts = saved;
  }
}
