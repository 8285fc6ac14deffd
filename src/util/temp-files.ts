import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

// Temporary files and directories this process is writing. The CLI removes them all when
// it is interrupted (SIGINT/SIGTERM), where no `finally` runs; normal paths remove their
// own and forget them.

const live = new Set<string>();

/** Records a temporary path; returns a function that forgets it (call it once the path is gone or kept). */
export function trackTemp(path: string): () => void {
  live.add(path);
  return () => { live.delete(path); };
}

/** Removes every tracked path at once (synchronous, for signal handlers); returns how many. */
export function removeTrackedTemps(): number {
  let n = 0;
  for (const p of live) {
    try {
      rmSync(p, { recursive: true, force: true });
      n++;
    } catch {
      /* best effort: the process is stopping */
    }
  }
  live.clear();
  return n;
}

/** True when a process with this pid is running (or not ours to signal); false when it is gone. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * A temporary name beside `file` (`FILE.<pid>.<random>.tmp`), renamed onto `file` when
 * complete. Leftovers of dead runs with the same target are removed first.
 */
export function tempPathBeside(file: string): string {
  const dir = dirname(file);
  const base = basename(file);
  let names: string[] = [];
  try { names = readdirSync(dir); } catch { /* the directory is made later */ }
  for (const name of names) {
    if (!name.startsWith(`${base}.`)) continue;
    const pid = Number(/^\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name.slice(base.length))?.[1]);
    if (pid && pid !== process.pid && !pidAlive(pid)) rmSync(join(dir, name), { force: true, recursive: true });
  }
  return `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/**
 * Who this process is, exactly: its pid, the time it started (in clock ticks since boot, from
 * /proc) and the inode of its pid namespace, as `pid.start.ns`; just the pid where /proc is
 * not there to read. Two processes of one namespace never share all three.
 */
export function processTag(): string {
  return (tagCache ??= ((): string => {
    const start = startTime('self');
    const ns = pidNamespace();
    return start !== undefined && ns !== undefined ? `${process.pid}.${start}.${ns}` : String(process.pid);
  })());
}
let tagCache: string | undefined;

/** Field 22 of /proc/<pid>/stat (after the name in parentheses, which may hold spaces). */
function startTime(pid: string): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function pidNamespace(): string | undefined {
  try {
    return /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
  } catch {
    return undefined;
  }
}

/** makeScratchDir, synchronously (for probes that run before anything is awaited). */
export function makeScratchDirSync(purpose: string): string {
  sweepDeadScratch();
  return mkdtempSync(join(tmpdir(), `ocimake-${processTag()}-${purpose}-`));
}

/** A scratch directory under the temp dir, named for this process so later runs can sweep it if this one dies. */
export async function makeScratchDir(purpose: string): Promise<string> {
  sweepDeadScratch();
  return mkdtemp(join(tmpdir(), `ocimake-${processTag()}-${purpose}-`));
}

/**
 * Whether the run that named a scratch directory `ocimake-<tag>-…` is gone: 'gone' when it was
 * of this pid namespace and no process of that pid and start time runs; 'unsure' when it
 * was of another namespace, or named by the pid alone (the age rule decides); 'alive' else.
 */
export function ownerState(tag: string): 'alive' | 'gone' | 'unsure' {
  const [pid, start, ns] = tag.split('.');
  if (Number(pid) === process.pid && (start === undefined || tag === processTag())) return 'alive';
  if (start !== undefined && ns !== undefined && ns === pidNamespace()) {
    return pidAlive(Number(pid)) && startTime(pid!) === start ? 'alive' : 'gone';
  }
  return pidAlive(Number(pid)) ? 'alive' : 'unsure';
}

let scratchSwept = false;
/** Scratch directories older than this belonging to a pid that is gone are removed. */
const SCRATCH_MIN_AGE_MS = 10 * 60_000;

/**
 * Removes `ocimake-<tag>-*` scratch directories of runs that died (killed, out of memory,
 * power cut), once per process: at once when the run was of this pid namespace (its pid and
 * start time tell exactly), after SCRATCH_MIN_AGE_MS otherwise, which keeps a run in another
 * pid namespace that shares the temp dir safe.
 */
export function sweepDeadScratch(root = tmpdir(), now = Date.now()): number {
  if (scratchSwept && root === tmpdir()) return 0;
  if (root === tmpdir()) scratchSwept = true;
  let n = 0;
  let names: string[];
  try { names = readdirSync(root); } catch { return 0; }
  for (const name of names) {
    const tag = /^ocimake-(\d+(?:\.\d+\.\d+)?)-/.exec(name)?.[1];
    if (!tag) continue;
    const state = ownerState(tag);
    if (state === 'alive') continue;
    try {
      if (state === 'unsure' && now - statSync(join(root, name)).mtimeMs < SCRATCH_MIN_AGE_MS) continue;
      rmSync(join(root, name), { recursive: true, force: true });
      n++;
    } catch { /* another run swept it, or it is not ours to remove */ }
  }
  return n;
}
