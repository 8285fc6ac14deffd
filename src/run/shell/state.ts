import { posix } from 'node:path';
import type { RunFs } from '../fs/run-fs.js';

/** A command's standard streams: stdin is whole (pipes run one side after the other). */
export interface Io {
  stdin: Buffer;
  out(data: string | Buffer): void;
  err(data: string): void;
}

/** What a RUN is run as and with. */
export interface RunUser { uid: number; gid: number; home: string }

/** The shell's state: variables, options and the current directory, over the RUN's filesystem. */
export interface ShellState {
  fs: RunFs;
  /** Absolute, with a leading `/`. */
  cwd: string;
  vars: Map<string, string>;
  exported: Set<string>;
  opts: { errexit: boolean; nounset: boolean; xtrace: boolean; noglob: boolean; pipefail: boolean };
  user: RunUser;
  umask: number;
  lastStatus: number;
  /** The positional parameters: $1 … (`set --`, `shift`, a function's arguments). */
  args: string[];
  /** runStringSize, read once per RUN: what one expanded word may hold. */
  maxString: number;
  functions: Map<string, unknown>;
  /** Commands other than the shell's own (apk, file commands, adduser, ...). */
  commands: ReadonlyMap<string, Command>;
  /** Runs shell text in this shell (for `sh -c`). */
  runText?: (text: string, io: Io) => Promise<number>;
  /** Told of each apk package before it is fetched (ocimake.lock records it, --locked may refuse it). */
  onApk?: (p: { repository: string; name: string; version: string; checksum: string }) => void;
}

/** A native command: its arguments (without the name), streams and the shell. Returns the exit status. */
export type Command = (args: string[], io: Io, sh: ShellState) => Promise<number>;

/** An absolute in-image path for a command's argument, relative to the current directory. */
export function absPath(sh: ShellState, p: string): string {
  return p.startsWith('/') ? p : posix.join(sh.cwd, p);
}

/** The owner and mode of what a command creates: the RUN's user, modes under umask. */
export function newMeta(sh: ShellState, mode: number): { mode: number; uid: number; gid: number } {
  return { mode: mode & ~sh.umask & 0o7777, uid: sh.user.uid, gid: sh.user.gid };
}

/**
 * How much of a stdin buffer has been consumed: `read` takes a line at a time, and what reads
 * stdin after it (cat, another read) gets the rest, as with a real file descriptor. Keyed by the
 * buffer, which every command of a loop or group shares.
 */
const consumed = new WeakMap<Buffer, number>();

/** The rest of stdin, which is then consumed. */
export function takeStdin(stdin: Buffer): Buffer {
  const at = consumed.get(stdin) ?? 0;
  consumed.set(stdin, stdin.length);
  return at === 0 ? stdin : stdin.subarray(at);
}

/** The next line of stdin (without its newline), or undefined at its end; `complete`: a newline ended it. */
export function takeLine(stdin: Buffer): { line: string; complete: boolean } | undefined {
  const at = consumed.get(stdin) ?? 0;
  if (at >= stdin.length) return undefined;
  const nl = stdin.indexOf(0x0a, at);
  const end = nl < 0 ? stdin.length : nl;
  consumed.set(stdin, nl < 0 ? stdin.length : nl + 1);
  return { line: stdin.subarray(at, end).toString('utf8'), complete: nl >= 0 };
}
