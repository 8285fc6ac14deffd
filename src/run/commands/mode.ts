import { RunError } from '../errors.js';
import { modeOf } from '../../util/file-mode.js';

/** util/file-mode.ts's modeOf, with busybox's error for what is not a mode. */
export function applyMode(spec: string, cur: number, isDir: boolean, umask: number): number {
  const m = modeOf(spec, cur, isDir, umask);
  if (m === undefined) throw new RunError(`invalid mode '${spec}'`);
  return m;
}
