import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { userInfo } from 'node:os';

// Subordinate ids (/etc/subuid, /etc/subgid; shadow's newuidmap and newgidmap): a user who has
// a range can own a user namespace in which it is root and the range's ids are 1, 2, …, so files
// in a tree keep their owners and `USER 1000` works. ocimake uses them as buildah does: a build
// that executes RUN re-executes itself once inside such a namespace (reexec.ts in cli/); there
// it is root over the trees it writes, and each RUN's sandbox is made without a user namespace
// of its own. Without a range (a plain CI user often has none), rootless maps only the caller.

/** A range of subordinate ids: `count` ids from `start`. */
export interface SubidRange { start: number; count: number }

/** The caller's id map for a user namespace: itself as 0, its ranges as 1…count. */
export interface SubidMap { uid: number; gid: number; subuid: SubidRange; subgid: SubidRange }

/** The caller's first range in an /etc/subuid-style file, by name or by number. */
export function findRange(text: string, name: string, id: number): SubidRange | undefined {
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who === undefined || start === undefined || count === undefined || line.trim().startsWith('#')) continue;
    if (who !== name && who !== String(id)) continue;
    const s = Number(start), c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s > 0 && c > 0) return { start: s, count: c };
  }
  return undefined;
}

/** The caller's subordinate ids and the helpers to map them, or why there are none. */
export function subidMap(): SubidMap | { why: string } {
  const uid = process.getuid?.(), gid = process.getgid?.();
  if (uid === undefined || gid === undefined || process.platform !== 'linux') return { why: 'not Linux' };
  if (uid === 0) return { why: 'root needs none' };
  let name: string;
  try { name = userInfo().username; } catch { name = String(uid); }
  const read = (f: string) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } };
  const subuid = findRange(read('/etc/subuid'), name, uid);
  const subgid = findRange(read('/etc/subgid'), name, uid);
  if (!subuid || !subgid) return { why: `${name} has no range in /etc/subuid and /etc/subgid` };
  for (const helper of ['newuidmap', 'newgidmap']) {
    if (spawnSync('sh', ['-c', `command -v ${helper}`], { encoding: 'utf8' }).status !== 0) return { why: `${helper} is not installed (Debian and Ubuntu: the uidmap package)` };
  }
  return { uid, gid, subuid, subgid };
}

let mapped: { count: number | undefined } | undefined;

/**
 * The number of ids (0…n-1) of the user namespace this process is root of, when it maps more
 * than one (made by spawnMapped): it may chown to them, and sandboxes need no user namespace of
 * their own. Undefined in the initial namespace or outside one. A process's map never changes
 * once written, so it is read once.
 */
export function mappedIdCount(): number | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (!mapped) {
    let count: number | undefined;
    try {
      const lines = readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
      // The initial namespace maps 0…2^32-2 onto itself.
      const initial = lines.length === 1 && lines[0]![0] === 0 && lines[0]![1] === 0 && lines[0]![2] === 4294967295;
      if (!initial && lines.reduce((n, l) => n + (l[2] ?? 0), 0) > 1) count = Math.max(...lines.map((l) => (l[0] ?? 0) + (l[2] ?? 0)));
    } catch { /* no /proc: not in one */ }
    mapped = { count };
  }
  return mapped.count;
}

/** True when this process is root of a user namespace of subordinate ids (see mappedIdCount). */
export function inMappedUserns(): boolean {
  return mappedIdCount() !== undefined;
}

// The child makes its user namespace (unshare --user), says so on fd 3, and waits there until
// newuidmap and newgidmap have written its maps; then it becomes the program.
// fd 3 stays open in the program: it sees the caller go when it closes.
const WAIT = 'echo ready >&3; read go <&3; exec "$@"';

/**
 * Starts argv in a new user namespace in which the caller is root and its subordinate ranges
 * are ids 1…count, with stdin, stdout and stderr inherited. Resolves once the maps are written.
 */
export async function spawnMapped(map: SubidMap, argv: readonly string[], env: NodeJS.ProcessEnv, stdinText?: string): Promise<ChildProcess> {
  const child = spawn('unshare', ['--user', '--', '/bin/sh', '-c', WAIT, 'ocimake-userns', ...argv], { env, stdio: [stdinText === undefined ? 'inherit' : 'pipe', 'inherit', 'inherit', 'pipe'] });
  const ctl = child.stdio[3] as unknown as Socket;
  try {
    await new Promise<void>((resolve, reject) => {
      let said = '';
      ctl.setEncoding('utf8');
      ctl.on('data', (d: string) => { said += d; if (said.includes('ready')) resolve(); });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`unshare --user exited with ${code} before its namespace was ready`)));
    });
    for (const [helper, own, r] of [['newuidmap', map.uid, map.subuid], ['newgidmap', map.gid, map.subgid]] as const) {
      const m = spawnSync(helper, [String(child.pid), '0', String(own), '1', '1', String(r.start), String(r.count)], { encoding: 'utf8' });
      if (m.status !== 0) throw new Error(`${helper} failed: ${(m.stderr || m.error?.message || `exit ${m.status}`).trim()}`);
    }
    ctl.write('go\n');
    if (stdinText !== undefined) child.stdin!.end(stdinText);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  child.removeAllListeners('exit');
  return child;
}
