import { OcimakeError } from '../../errors.js';
import { RunError } from '../errors.js';
import { baseOf, joinPath, type Node } from '../fs/run-fs.js';
import { shellPattern } from '../shell/expand.js';
import { absPath, type Command, type Io } from '../shell/state.js';
import { sizeOf } from './ls.js';

// busybox find, natively: the cleanup RUNs end with (official images prune tests and caches with
// `find /usr/local -depth \( -name test -o -name tests \) -exec rm -rf '{}' +`). Paths are walked
// in the RUN's view without following symlinks; the expression has -name, -iname, -path, -type,
// -empty, -maxdepth, -mindepth, -depth, -prune, `!`, -a, -o and parentheses; actions are -print,
// -delete and -exec (`;` and `+`), whose command must be one RUN runs natively.

interface Visit { shown: string; path: string; node: Node; depth: number }
type Pred = (v: Visit) => Promise<boolean>;

interface Parsed { pred: Pred; hasAction: boolean; maxDepth: number; minDepth: number; depthFirst: boolean; batches: Batch[] }
interface Batch { argv: string[]; paths: string[] }

/** Parses the expression (precedence: `!` over -a over -o), with -exec's commands run through `exec`. */
function parse(tokens: string[], exec: (argv: string[], v: Visit) => Promise<boolean>, prune: (v: Visit) => void, del: (v: Visit) => Promise<void>, dirNames: (path: string) => Promise<string[]>, io: Io): Parsed {
  let i = 0;
  const out: Parsed = { pred: async () => true, hasAction: false, maxDepth: Infinity, minDepth: 0, depthFirst: false, batches: [] };
  const num = (t: string) => {
    const v = tokens[i++];
    if (v === undefined || !/^\d+$/.test(v)) throw new RunError(`${t}: expected a number`, 1);
    return Number(v);
  };
  const primary = (): Pred => {
    const t = tokens[i++];
    if (t === undefined) throw new RunError('expression expected', 1);
    switch (t) {
      case '(': {
        const p = or();
        if (tokens[i++] !== ')') throw new RunError('missing )', 1);
        return p;
      }
      case '!': case '-not': { const p = primary(); return async (v) => !(await p(v)); }
      case '-name': case '-iname': {
        const re = shellPattern(t === '-iname' ? (tokens[i++] ?? '').toLowerCase() : tokens[i++] ?? '', true);
        return async (v) => re.test(t === '-iname' ? baseOf(v.shown).toLowerCase() : baseOf(v.shown));
      }
      case '-path': case '-wholename': { const re = shellPattern(tokens[i++] ?? '', true); return async (v) => re.test(v.shown); }
      case '-type': {
        const want = tokens[i++];
        const of: Record<string, Node['type']> = { f: 'file', d: 'directory', l: 'symlink' };
        if (!want || !of[want]) throw new RunError(`-type ${want ?? ''}: only f, d and l are supported natively`, 1);
        return async (v) => v.node.type === of[want];
      }
      case '-empty': return async (v) => {
        if (v.node.type === 'directory') return (await dirNames(v.path)).length === 0;
        return v.node.type === 'file' && sizeOf(v.node) === 0;
      };
      case '-maxdepth': out.maxDepth = num(t); return async () => true;
      case '-mindepth': out.minDepth = num(t); return async () => true;
      case '-depth': out.depthFirst = true; return async () => true;
      case '-xdev': case '-mount': return async () => true;
      case '-print': out.hasAction = true; return async (v) => { io.out(`${v.shown}\n`); return true; };
      case '-prune': return async (v) => { prune(v); return true; };
      case '-delete': out.hasAction = true; out.depthFirst = true; return async (v) => { await del(v); return true; };
      case '-exec': {
        out.hasAction = true;
        const start = i;
        while (i < tokens.length && tokens[i] !== ';' && !(tokens[i] === '+' && tokens[i - 1] === '{}')) i++;
        if (i >= tokens.length) throw new RunError("-exec: missing ';' or '+'", 1);
        const argv = tokens.slice(start, i);
        const plus = tokens[i++] === '+';
        if (argv.length === 0) throw new RunError('-exec: no command', 1);
        if (plus) {
          const batch: Batch = { argv: argv.slice(0, -1), paths: [] };
          out.batches.push(batch);
          return async (v) => { batch.paths.push(v.shown); return true; };
        }
        return async (v) => exec(argv.map((a) => a.replaceAll('{}', v.shown)), v);
      }
      default:
        throw new OcimakeError('RUN_UNSUPPORTED', `find ${t} is not supported natively`, { hint: 'find supports -name, -iname, -path, -type f|d|l, -empty, -maxdepth, -mindepth, -depth, -prune, !, -a, -o, ( ), -print, -delete and -exec' });
    }
  };
  const and = (): Pred => {
    let p = primary();
    while (i < tokens.length && tokens[i] !== ')' && tokens[i] !== '-o' && tokens[i] !== '-or') {
      if (tokens[i] === '-a' || tokens[i] === '-and') i++;
      const left = p;
      const right = primary();
      p = async (v) => (await left(v)) && right(v);
    }
    return p;
  };
  const or = (): Pred => {
    let p = and();
    while (tokens[i] === '-o' || tokens[i] === '-or') {
      i++;
      const left = p;
      const right = and();
      p = async (v) => (await left(v)) || right(v);
    }
    return p;
  };
  if (tokens.length > 0) out.pred = or();
  if (i < tokens.length) throw new RunError(`unexpected '${tokens[i]}'`, 1);
  return out;
}

export const findCommand: Command = async (args, io, sh) => {
  let k = 0;
  while (args[k] === '-H' || args[k] === '-L' || args[k] === '-P') {
    if (args[k] === '-L') throw new OcimakeError('RUN_UNSUPPORTED', 'find -L is not supported natively', { hint: 'find walks without following symlinks (-P)' });
    k++;
  }
  const starts: string[] = [];
  while (k < args.length && !args[k]!.startsWith('-') && args[k] !== '(' && args[k] !== '!') starts.push(args[k++]!);
  if (starts.length === 0) starts.push('.');
  const pruned = new Set<string>();
  let status = 0;
  const exec = async (argv: string[]): Promise<boolean> => {
    const c = sh.commands.get(argv[0]!);
    if (!c) throw new OcimakeError('RUN_UNSUPPORTED', `find -exec would execute "${argv[0]}" (not available without a container runtime)`, { hint: 'find -exec runs the commands RUN runs natively (rm, chmod, chown, sed, ...)' });
    return (await c(argv.slice(1), io, sh)) === 0;
  };
  const del = async (v: Visit) => {
    if (v.node.type === 'directory' && (await sh.fs.readdir(v.path)).length > 0) { io.err(`find: ${v.shown}: Directory not empty\n`); status = 1; return; }
    await sh.fs.remove(v.path);
  };
  const p = parse(args.slice(k), exec, (v) => pruned.add(v.path), del, (path) => sh.fs.readdir(path), io);
  const visit = async (v: Visit): Promise<void> => {
    const here = v.depth >= p.minDepth && v.depth <= p.maxDepth;
    if (!p.depthFirst && here && (await p.pred(v)) && !p.hasAction) io.out(`${v.shown}\n`);
    if (v.node.type === 'directory' && v.depth < p.maxDepth && !pruned.has(v.path)) {
      for (const name of await sh.fs.readdir(v.path)) {
        const path = joinPath(v.path, name);
        const node = await sh.fs.at(path);
        if (node) await visit({ shown: v.shown.endsWith('/') ? `${v.shown}${name}` : `${v.shown}/${name}`, path, node, depth: v.depth + 1 });
      }
    }
    if (p.depthFirst && here && (await p.pred(v)) && !p.hasAction) io.out(`${v.shown}\n`);
  };
  for (const s of starts) {
    const { path, node } = await sh.fs.resolve(absPath(sh, s), false);
    if (!node) { io.err(`find: ${s}: No such file or directory\n`); status = 1; continue; }
    await visit({ shown: s, path, node, depth: 0 });
  }
  for (const b of p.batches) {
    if (b.paths.length > 0 && !(await exec([...b.argv, ...b.paths]))) status = 1;
  }
  return status;
};
