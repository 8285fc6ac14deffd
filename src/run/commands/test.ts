import { RunError } from '../errors.js';
import { absPath, type Command, type ShellState } from '../shell/state.js';

// test and [, as POSIX describes them (with -a, -o, !, and parentheses).

async function unary(op: string, arg: string, sh: ShellState): Promise<boolean> {
  if (op === '-z') return arg === '';
  if (op === '-n') return arg !== '';
  const followed = await sh.fs.resolve(absPath(sh, arg), true).catch(() => ({ node: undefined }));
  const n = followed.node;
  switch (op) {
    case '-e': return n !== undefined;
    case '-f': return n?.type === 'file';
    case '-d': return n?.type === 'directory';
    case '-h': case '-L': return (await sh.fs.resolve(absPath(sh, arg), false).catch(() => ({ node: undefined }))).node?.type === 'symlink';
    case '-s': return n?.type === 'file' && (await sh.fs.bytes(n)).length > 0;
    case '-r': case '-w': return n !== undefined;
    case '-x': {
      if (!n) return false;
      const mode = n.type === 'file' ? n.ino.meta.mode : n.meta.mode;
      return (mode & 0o111) !== 0;
    }
    case '-p': case '-c': case '-b': case '-S': return n?.type === 'other';
    case '-u': return n !== undefined && ((n.type === 'file' ? n.ino.meta.mode : n.meta.mode) & 0o4000) !== 0;
    case '-g': return n !== undefined && ((n.type === 'file' ? n.ino.meta.mode : n.meta.mode) & 0o2000) !== 0;
    case '-t': return false;
    default: throw new RunError(`${op}: unknown operand`, 2);
  }
}

function binary(a: string, op: string, b: string): boolean | undefined {
  const num = (s: string) => { if (!/^\s*-?\d+\s*$/.test(s)) throw new RunError(`${s}: bad number`, 2); return Number(s); };
  switch (op) {
    case '=': case '==': return a === b;
    case '!=': return a !== b;
    case '-eq': return num(a) === num(b);
    case '-ne': return num(a) !== num(b);
    case '-lt': return num(a) < num(b);
    case '-le': return num(a) <= num(b);
    case '-gt': return num(a) > num(b);
    case '-ge': return num(a) >= num(b);
    case '<': return a < b;
    case '>': return a > b;
    default: return undefined;
  }
}

const UNARY = new Set(['-z', '-n', '-e', '-f', '-d', '-h', '-L', '-s', '-r', '-w', '-x', '-p', '-c', '-b', '-S', '-u', '-g', '-t']);

async function evaluate(args: string[], sh: ShellState): Promise<boolean> {
  let i = 0;
  const primary = async (): Promise<boolean> => {
    const a = args[i];
    if (a === undefined) throw new RunError('argument expected', 2);
    if (a === '!') { i++; return !(await primary()); }
    if (a === '(') {
      i++;
      const v = await or();
      if (args[i++] !== ')') throw new RunError("missing ')'", 2);
      return v;
    }
    const op = args[i + 1];
    if (op !== undefined && args[i + 2] !== undefined) {
      const r = binary(a, op, args[i + 2]!);
      if (r !== undefined) { i += 3; return r; }
    }
    if (UNARY.has(a) && args[i + 1] !== undefined) { i += 2; return unary(a, args[i - 1]!, sh); }
    i++;
    return a !== '';
  };
  const and = async (): Promise<boolean> => {
    let v = await primary();
    while (args[i] === '-a') { i++; const r = await primary(); v = v && r; }
    return v;
  };
  const or = async (): Promise<boolean> => {
    let v = await and();
    while (args[i] === '-o') { i++; const r = await and(); v = v || r; }
    return v;
  };
  if (args.length === 0) return false;
  const v = await or();
  if (i < args.length) throw new RunError(`${args[i]}: unexpected operator`, 2);
  return v;
}

const test: Command = async (args, _io, sh) => ((await evaluate(args, sh)) ? 0 : 1);

const bracket: Command = async (args, _io, sh) => {
  if (args[args.length - 1] !== ']') throw new RunError("missing ]", 2);
  return (await evaluate(args.slice(0, -1), sh)) ? 0 : 1;
};

export const TEST_COMMANDS: [string, Command][] = [['test', test], ['[', bracket]];
