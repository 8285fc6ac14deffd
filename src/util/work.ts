/**
 * Counters of work done, for tests that bound work by counting it (never by timing it):
 * a hostile input must cost work in proportion to its size, not its size squared.
 */
export const work = {
  /** Entries read out of layers (every read of every layer counts). */
  layerEntries: 0,
  /** Path components walked while resolving paths in an image's merged view. */
  resolveSteps: 0,
  /** Characters of the paths the tree writer (extract, -o type=local) handed to system calls. */
  writePathChars: 0,
  /** Files and directories the build context walk looked at. */
  contextEntries: 0,
  /** Characters of Dockerfile words put through variable expansion. */
  lexedChars: 0,
  /** Copies of an image config made to edit it (one per run of metadata instructions). */
  configDrafts: 0,
};

export type WorkCounts = typeof work;

/** A copy of the counters now; subtract two to get the work done in between. */
export function workSnapshot(): WorkCounts {
  return { ...work };
}

/** The work done since `before`. */
export function workSince(before: WorkCounts): WorkCounts {
  const out = { ...work };
  for (const k of Object.keys(out) as (keyof WorkCounts)[]) out[k] -= before[k];
  return out;
}
