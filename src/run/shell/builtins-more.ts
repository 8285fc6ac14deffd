import { OcimakeError } from '../../errors.js';
import { RunError } from '../errors.js';
import type { Builtin } from './builtins.js';
import { absPath, takeLine } from './state.js';
import { parseShell } from './syntax.js';

// The builtins real RUN lines use beyond the basic ones: loop control, read, . and source,
// command, exec, trap and wait, with ash's behaviour.

const loopControl = (kind: 'break' | 'continue'): Builtin => async (args, _io, _sh, interp) => {
  const n = args[0] === undefined ? 1 : Number(args[0]);
  if (!Number.isInteger(n) || n < 1) throw new RunError(`${kind}: Illegal number: ${args[0]}`, 2);
  if (interp.loopDepth === 0) return 0;
  const { LoopSignal } = await import('./interp.js');
  throw new LoopSignal(kind, Math.min(n, interp.loopDepth));
};

/** read [-r] [-p PROMPT] NAME...: one line of stdin, split on IFS; the last name takes the rest. */
const read: Builtin = async (args, io, sh) => {
  let raw = false;
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-') && args[i] !== '-'; i++) {
    if (args[i] === '-r') raw = true;
    else if (args[i] === '-p') i++; // the prompt goes to a terminal, which a RUN has not
    else throw new OcimakeError('RUN_UNSUPPORTED', `read ${args[i]} is not supported natively`, { hint: 'read and read -r are' });
  }
  const names = args.slice(i);
  if (names.length === 0) names.push('REPLY');
  let text = '';
  let got = false;
  let complete = false;
  for (;;) {
    const l = takeLine(io.stdin);
    if (!l) break;
    got = true;
    complete = l.complete;
    if (!raw && l.complete && /(^|[^\\])(\\\\)*\\$/.test(l.line)) { text += l.line.slice(0, -1); continue; }
    text += l.line;
    break;
  }
  if (!raw) text = text.replace(/\\(.)/g, '$1');
  const ifs = sh.vars.get('IFS') ?? ' \t\n';
  const blank = [...ifs].filter((c) => ' \t\n'.includes(c)).join('');
  const isIfs = (c: string) => ifs.includes(c);
  // Leading and trailing IFS blanks go; the fields before the last are split off one by one.
  const trim = (s: string, re: string) => (blank === '' ? s : s.replace(new RegExp(re), ''));
  let rest = trim(text, `^[${blank}]+`);
  for (const [k, name] of names.entries()) {
    if (k === names.length - 1) {
      sh.vars.set(name, trim(rest, `[${blank}]+$`));
      break;
    }
    let j = 0;
    while (j < rest.length && !isIfs(rest[j]!)) j++;
    sh.vars.set(name, rest.slice(0, j));
    rest = rest.slice(j);
    // One delimiter: blanks, at most one non-blank IFS character, blanks.
    let m = 0;
    while (m < rest.length && blank.includes(rest[m]!)) m++;
    if (m < rest.length && isIfs(rest[m]!) && !blank.includes(rest[m]!)) m++;
    while (m < rest.length && blank.includes(rest[m]!)) m++;
    rest = rest.slice(m);
  }
  return got && complete ? 0 : 1;
};

/** . FILE and source FILE: the file's commands in this shell (a name without / is looked up on PATH, as ash does). */
const dot: Builtin = async (args, io, sh, interp) => {
  const [name, ...rest] = args;
  if (name === undefined) throw new RunError('.: filename argument required', 2);
  let path = absPath(sh, name);
  if (!name.includes('/')) {
    for (const d of (sh.vars.get('PATH') ?? '').split(':')) {
      const candidate = absPath(sh, `${d || '.'}/${name}`);
      if ((await sh.fs.resolve(candidate, true)).node?.type === 'file') { path = candidate; break; }
    }
  }
  const { node } = await sh.fs.resolve(path, true);
  if (node?.type !== 'file') throw new RunError(`.: can't open '${name}': No such file or directory`, 2);
  const file = await parseShell((await sh.fs.bytes(node)).toString('utf8'), name);
  const saved = sh.args;
  if (rest.length > 0) sh.args = rest;
  const { ReturnSignal } = await import('./interp.js');
  try {
    return await interp.stmts(file.Stmts, io, false);
  } catch (e) {
    if (e instanceof ReturnSignal) return e.status;
    throw e;
  } finally {
    if (rest.length > 0) sh.args = saved;
  }
};

/** command -v NAME (where it is), or command NAME ARGS (NAME run past any function of that name). */
const command: Builtin = async (args, io, sh, interp) => {
  if (args[0] === '-v' || args[0] === '-V') {
    let status = 0;
    for (const name of args.slice(1)) {
      const where = await interp.whereIs(name);
      if (where === undefined) { status = 127; continue; } // ash's status for a name it cannot find
      io.out(args[0] === '-v' ? `${where}\n` : `${name} is ${where === name ? 'a shell builtin' : where}\n`);
    }
    return status;
  }
  if (args[0] === '-p') args = args.slice(1);
  if (args.length === 0) return 0;
  return interp.dispatch(args, io, { functions: false });
};

/** exec CMD ARGS: runs CMD, and the shell ends with its status. exec with redirections only is refused. */
const exec: Builtin = async (args, io, _sh, interp) => {
  if (args.length === 0) throw new OcimakeError('RUN_UNSUPPORTED', 'exec with only redirections (exec >FILE, exec 2>&1) is not supported natively', { hint: 'redirect the commands or a { … } group instead' });
  const status = await interp.dispatch(args, io);
  const { ExitSignal } = await import('./interp.js');
  throw new ExitSignal(status);
};

/** trap: an EXIT (or 0) action runs when the script ends; signal actions are kept and never fire (nothing signals a native RUN). */
const trap: Builtin = async (args, _io, _sh, interp) => {
  if (args.length === 0) return 0;
  const [action, ...conds] = args[0] === '--' ? args.slice(1) : args;
  for (const c of conds) {
    const name = c.toUpperCase().replace(/^SIG/, '');
    if (name === 'EXIT' || name === '0') interp.exitTrap = action === '-' || action === '' ? undefined : action;
    else if (!/^(HUP|INT|QUIT|TERM|USR1|USR2|PIPE|ALRM|CHLD|ERR|[0-9]+)$/.test(name)) throw new RunError(`trap: ${c}: invalid signal specification`, 1);
  }
  return 0;
};

export const MORE_BUILTINS: [string, Builtin][] = [
  ['break', loopControl('break')], ['continue', loopControl('continue')], ['read', read], ['.', dot], ['source', dot],
  ['command', command], ['exec', exec], ['trap', trap], ['wait', async () => 0],
];
