import { rmSync } from 'node:fs';

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
