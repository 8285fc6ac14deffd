import { posix } from 'node:path';
import { OcimakeError } from '../errors.js';
import { limit } from '../util/limits.js';
import type { Heredoc } from '../dockerfile/parse.js';
import type { MergedFs } from '../image/merged-fs.js';
import type { LayerEntry } from '../layer/entry.js';
import { wouldExecute } from './errors.js';
import { bindInto } from './fs/bind.js';
import { changesOf } from './fs/changes.js';
import { RunFs } from './fs/run-fs.js';
import { Interpreter } from './shell/interp.js';
import { commandName, firstForeignCommand } from './shell/precheck.js';
import type { Command, Io, RunUser, ShellState } from './shell/state.js';
import { parseShell } from './shell/syntax.js';
import { nativeCommands, type NativeOptions } from './commands/index.js';
import { parseRunFlags, type RunFlags } from './flags.js';
import { resolveRunUser } from './user-spec.js';

/** A RUN instruction as the build engine passes it. */
export interface RunSpec {
  json: boolean;
  args: string[];
  heredocs: Heredoc[];
  flags: string[];
  /** The stage's SHELL (default ["/bin/sh", "-c"]). */
  shell: string[];
}

export interface RunInputs extends NativeOptions {
  spec: RunSpec;
  /** The stage's filesystem before the RUN. */
  fs: MergedFs;
  /** ENV, then build ARGs the stage declared: the RUN's environment. */
  env: ReadonlyMap<string, string>;
  workdir: string;
  /** The stage's USER, as written ("" for root). */
  user: string;
  scratch: string;
  /** Output lines of the commands (stdout and stderr, and `set -x` traces). */
  log?: (line: string) => void;
  /** Where a bind mount's source is on disk (the build puts a stage's or image's path there). */
  bindSource?: (m: RunFlags['binds'][number]) => Promise<string>;
  /** Each apk package the RUN is about to install (ShellState.onApk). */
  onApk?: ShellState['onApk'];
}

const SHELLS = new Set(['sh', 'ash', 'bash', 'dash']);
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The script a RUN runs: shell options and text, or undefined for an exec-form command run directly. */
export function scriptOf(spec: RunSpec): { opts: string[]; text: string } | { argv: string[] } {
  if (spec.json) {
    const [cmd, ...rest] = spec.args;
    if (cmd === undefined) throw new OcimakeError('DOCKERFILE_INVALID', 'RUN [] has no command', { hint: 'write RUN ["apk", "add", "tzdata"] or RUN apk add tzdata' });
    if (!SHELLS.has(commandName(cmd))) return { argv: spec.args };
    return shellScript(rest, cmd);
  }
  const [sh, ...shellArgs] = spec.shell.length > 0 ? spec.shell : ['/bin/sh', '-c'];
  if (!SHELLS.has(commandName(sh!))) throw wouldExecute(sh!, 'the stage\'s SHELL is not a POSIX shell ocimake can interpret');
  let text: string;
  if (spec.heredocs.length === 1 && /^<<-?\s*["']?[^\s"']+["']?$/.test(spec.args.join(' ').trim())) {
    // As BuildKit: a RUN that is only a heredoc runs its body as the script.
    text = spec.heredocs[0]!.content;
    if (text.startsWith('#!')) {
      const interp = text.slice(2, text.indexOf('\n') < 0 ? undefined : text.indexOf('\n')).trim().split(/\s+/)[0] ?? '';
      if (!SHELLS.has(commandName(interp))) throw wouldExecute(interp, 'the heredoc script names another interpreter');
    }
  } else {
    text = spec.args.join(' ');
    for (const h of spec.heredocs) text += `\n${h.content}${h.content.endsWith('\n') || h.content === '' ? '' : '\n'}${h.name}`;
  }
  return shellScript([...shellArgs, text], sh!);
}

function shellScript(args: string[], shell: string): { opts: string[]; text: string } {
  const c = args.indexOf('-c');
  if (c < 0 || c !== args.length - 2) throw wouldExecute(`${shell} ${args.join(' ')}`, 'only "sh -c COMMAND" is interpreted (a script file would have to be executed)');
  return { opts: args.slice(0, c), text: args[c + 1]! };
}

/**
 * Checks a RUN before the build starts: its shell text parses, and every command it names
 * literally is one RUN can do natively. Throws `FILE:LINE: RUN would execute "go"`.
 */
export async function precheckRun(file: string, inst: { line: number; json: boolean; args: string[]; heredocs: Heredoc[]; flags: string[] }, extra: ReadonlyMap<string, Command>): Promise<void> {
  try {
    parseRunFlags(inst.flags);
    const script = scriptOf({ ...inst, shell: ['/bin/sh', '-c'] });
    const commands = nativeCommands({ extra });
    if ('text' in script) {
      const foreign = firstForeignCommand(await parseShell(script.text, 'RUN'), { commands });
      if (foreign !== undefined) throw wouldExecute(foreign);
    } else if (!commands.has(commandName(script.argv[0]!))) throw wouldExecute(script.argv[0]!);
  } catch (err) {
    if (err instanceof OcimakeError) throw new OcimakeError(err.code, `${file}:${inst.line}: ${/^RUN[ :]/.test(err.message) ? '' : 'RUN: '}${err.message}`, { ...(err.hint ? { hint: err.hint } : {}), cause: err, location: { file, line: inst.line } });
    throw err;
  }
}

/** True when a program name resolves in the image: a path as given, or a name along PATH. */
export async function findProgram(rfs: RunFs, name: string, path: string): Promise<boolean> {
  return (await whereProgram(rfs, name, path)) !== undefined;
}

/** Where a program name resolves in the image (what `command -v` prints): the path as given, or DIR/NAME along PATH. */
export async function whereProgram(rfs: RunFs, name: string, path: string): Promise<string | undefined> {
  const dirs = name.includes('/') ? [''] : path.split(':').filter((d) => d.startsWith('/'));
  for (const d of dirs) {
    const { node } = await rfs.resolve(d === '' ? posix.resolve('/', name) : `${d}/${name}`, true).catch(() => ({ node: undefined }));
    if (node && node.type !== 'directory') return d === '' ? name : `${d}/${name}`;
  }
  return undefined;
}

/** Reads the RUN's user from the stage's /etc/passwd and /etc/group (root when unset). */
async function userOf(rfs: RunFs, user: string): Promise<RunUser> {
  return resolveRunUser(user, async (f) => {
    const { node } = await rfs.resolve(f, true);
    return node?.type === 'file' ? (await rfs.bytes(node)).toString('utf8') : '';
  });
}

/**
 * Runs a RUN natively over a copy-on-write view of the stage and returns the layer it
 * writes. Nothing is executed: the shell is interpreted and every command is native. A RUN
 * that needs a program ocimake does not have fails before anything is written.
 */
export async function runNative(inp: RunInputs): Promise<{ entries: readonly LayerEntry[]; createdBy: string }> {
  const script = scriptOf(inp.spec);
  const rfs = new RunFs(inp.fs, inp.scratch);
  const flags = parseRunFlags(inp.spec.flags);
  const commands: Map<string, Command> = nativeCommands(inp);
  const file = 'text' in script ? await parseShell(script.text, 'RUN') : undefined;
  if (file) {
    const foreign = firstForeignCommand(file, { commands });
    if (foreign !== undefined) throw wouldExecute(foreign);
  } else {
    const c = commandName((script as { argv: string[] }).argv[0]!);
    if (!commands.has(c)) throw wouldExecute((script as { argv: string[] }).argv[0]!);
  }
  if ('text' in script) {
    const shellPath = inp.spec.json ? inp.spec.args[0]! : (inp.spec.shell[0] ?? '/bin/sh');
    if (!(await findProgram(rfs, shellPath, inp.env.get('PATH') ?? DEFAULT_PATH))) {
      throw new OcimakeError('RUN_NO_SHELL', `the image has no ${shellPath}, so RUN has no shell to run "${script.text.slice(0, 60)}" in`, {
        hint: 'FROM scratch and distroless images have no shell: build on a base that has one (alpine), or COPY the files in instead',
      });
    }
  }
  const user = await userOf(rfs, inp.user);
  for (const m of flags.binds) {
    if (!inp.bindSource) throw new OcimakeError('RUN_UNSUPPORTED', 'RUN --mount=type=bind has no source here', { hint: 'bind mounts are read from the build context or a stage' });
    const { path } = await rfs.resolve(posix.resolve(inp.workdir || '/', m.target), true);
    await bindInto(rfs, await inp.bindSource(m), path, m.rw);
  }
  for (const target of flags.cacheTargets) {
    // A cache mount: an empty directory for the RUN, never part of the layer.
    const { path } = await rfs.resolve(posix.resolve(inp.workdir || '/', target), true);
    await rfs.remove(path);
    await rfs.makeDir(path, { mode: 0o755, uid: 0, gid: 0 });
    rfs.excluded.push(path);
  }
  const vars = new Map(inp.env);
  if (!vars.has('PATH')) vars.set('PATH', DEFAULT_PATH);
  if (!vars.has('HOME')) vars.set('HOME', user.home);
  const sh: ShellState = {
    fs: rfs, cwd: posix.resolve('/', inp.workdir || '/'), vars, exported: new Set(vars.keys()),
    opts: { errexit: false, nounset: false, xtrace: false, noglob: false, pipefail: false },
    user, umask: 0o022, lastStatus: 0, functions: new Map(), commands, args: [], maxString: limit('runStringSize'),
    ...(inp.onApk ? { onApk: inp.onApk } : {}),
  };
  const out: string[] = [];
  const log = (s: string) => {
    for (const line of s.split('\n')) {
      if (line === '') continue;
      out.push(line);
      if (out.length > 5) out.shift();
      inp.log?.(line);
    }
  };
  const io: Io = { stdin: Buffer.alloc(0), out: (d) => log(Buffer.from(d).toString('utf8')), err: (d) => log(d) };
  const interp = new Interpreter(sh, log);
  let status: number;
  try {
    if (file) {
      if ('opts' in script) {
        const { BUILTINS } = await import('./shell/builtins.js');
        const opts = script.opts.filter((o) => o !== '-c');
        if (opts.length > 0) await BUILTINS.get('set')!(opts, io, sh, interp);
      }
      status = await interp.runFile(file, io);
    } else {
      status = await interp.dispatch((script as { argv: string[] }).argv, io);
    }
  } catch (e) {
    // V8's own bounds on a string or a buffer: a value past them is a limit, not a crash.
    const tooBig = (e instanceof RangeError && /Invalid string length|Array buffer allocation failed|Invalid (typed )?array length/.test(e.message))
      || (e instanceof Error && 'code' in e && e.code === 'ERR_OUT_OF_RANGE');
    if (tooBig) throw new OcimakeError('LIMIT_EXCEEDED', `a value grew past what Node can hold (${(e as Error).message})`, { hint: 'the RUN builds a string or file larger than Node allows; make it smaller, or let it execute (--isolation rootless or chroot)' });
    throw e;
  }
  if (status !== 0) {
    const tail = out.slice(-5).join('\n');
    throw new OcimakeError('RUN_FAILED', `RUN did not complete successfully: exit code: ${status}${tail ? `\n${tail}` : ''}`, {
      hint: 'the command failed as it would in a container; its output is above',
    });
  }
  const createdBy = `RUN ${'text' in script ? `/bin/sh -c ${script.text}` : JSON.stringify((script as { argv: string[] }).argv)} # ocimake native`;
  return { entries: await changesOf(rfs), createdBy };
}

