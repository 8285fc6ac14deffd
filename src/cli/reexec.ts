import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { dockerfileExecutes } from '../builder/run-plan.js';
import { readDockerfile } from '../dockerfile/read.js';
import type { Isolation } from '../run/exec/isolation.js';
import { spawnMapped, subidMap } from '../run/exec/subids.js';

// A build that executes RUN, started by a user who has subordinate ids, runs again inside a
// user namespace of them (as buildah re-executes itself): there ocimake is root over the trees it
// writes, so files keep their owners, `chown` in a RUN works and `USER 1000` runs as 1000. What
// it writes outside its scratch (outputs, the cache) is the caller's, as id 0 maps to the caller.
// The outer process only waits: it passes stdin through, forwards SIGINT and SIGTERM, and exits
// with the inner's status. The inner holds fd 3, the outer's end of a socket; if the outer dies
// (SIGKILL), the inner stops as on SIGTERM, so no build is left running unowned.
// OCIMAKE_SUBIDS=0 turns it off (rootless then maps only the caller).

let allowed = false;
let inner: ChildProcess | undefined;

/** Lets `build` re-execute the process (only the real `ocimake` process, not `main` embedded in tests). */
export function allowReexec(): void {
  allowed = true;
}

/**
 * Runs this command again inside the caller's subordinate-id user namespace when it is a build
 * that executes RUN and the caller has ids to map; returns the exit status then, else undefined
 * (build here). `file` is -f as given; the Dockerfile read from stdin goes to the inner on its stdin.
 */
export async function buildInUserns(context: string, file: string | undefined, isolation: Isolation): Promise<{ status: number } | { stdinText?: string }> {
  if (!allowed || process.env.OCIMAKE_SUBIDS === '0' || (isolation !== 'auto' && isolation !== 'rootless')) return {};
  const map = subidMap();
  if ('why' in map) return {};
  const path = file === '-' ? '-' : resolve(file ?? join(context, 'Dockerfile'));
  // A pipe named by -f is read once, by the build.
  if (path !== '-' && !statSync(path, { throwIfNoEntry: false })?.isFile()) return {};
  const text = await readDockerfile(path);
  // stdin, once read, is the build's Dockerfile here or the inner's stdin.
  if (!(await dockerfileExecutes(text, path, isolation))) return path === '-' ? { stdinText: text } : {};
  const env = { ...process.env, OCIMAKE_USERNS_PARENT_FD: '3' };
  const child = await spawnMapped(map, [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], env, path === '-' ? text : undefined);
  inner = child;
  return new Promise((resolveStatus) => {
    child.once('close', (code, signal) => {
      inner = undefined;
      resolveStatus({ status: code ?? 128 + (signal ? constants.signals[signal] : 0) });
    });
  });
}

/** True while an inner build runs: a signal to this process is forwarded to it. */
export function innerRunning(): boolean {
  return inner !== undefined;
}

/** Forwards `signal` to the inner build and resolves with its status once it has ended (it cleans up itself). */
export function forwardToInner(signal: NodeJS.Signals): Promise<number> {
  const c = inner;
  if (!c) return Promise.resolve(128);
  return new Promise((resolveStatus) => {
    c.once('close', (code, by) => resolveStatus(code ?? 128 + constants.signals[by ?? signal]));
    c.kill(signal);
  });
}

/** In the inner build: when the outer process goes (its socket on fd 3 closes), stop as on SIGTERM. */
export function watchOuter(): void {
  const fd = Number(process.env.OCIMAKE_USERNS_PARENT_FD);
  delete process.env.OCIMAKE_USERNS_PARENT_FD;
  if (!Number.isInteger(fd) || fd < 3) return;
  try {
    const s = new Socket({ fd, readable: true, writable: false });
    s.on('error', () => {});
    s.on('close', () => process.kill(process.pid, 'SIGTERM'));
    s.resume();
    s.unref();
  } catch { /* not a socket: nothing to watch */ }
}
