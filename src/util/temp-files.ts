import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
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

/** A scratch directory under the temp dir, named for this process so later runs can sweep it if this one dies. */
export async function makeScratchDir(purpose: string): Promise<string> {
  sweepDeadScratch();
  return mkdtemp(join(tmpdir(), `ocimake-${process.pid}-${purpose}-`));
}

let scratchSwept = false;
/** Scratch directories older than this belonging to a pid that is gone are removed. */
const SCRATCH_MIN_AGE_MS = 10 * 60_000;

/**
 * Removes `ocimake-<pid>-*` scratch directories of runs that died (killed, out of memory,
 * power cut), once per process. The age bound keeps a run in another pid namespace that
 * shares the temp dir safe.
 */
export function sweepDeadScratch(root = tmpdir(), now = Date.now()): number {
  if (scratchSwept && root === tmpdir()) return 0;
  if (root === tmpdir()) scratchSwept = true;
  let n = 0;
  let names: string[] = [];
  try { names = readdirSync(root); } catch { return 0; }
  for (const name of names) {
    const pid = Number(/^ocimake-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || pidAlive(pid)) continue;
    try {
      if (now - statSync(join(root, name)).mtimeMs < SCRATCH_MIN_AGE_MS) continue;
      rmSync(join(root, name), { recursive: true, force: true });
      n++;
    } catch { /* another run swept it, or it is not ours to remove */ }
  }
  return n;
}
