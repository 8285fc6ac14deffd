import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// Memory on large trees. A build over tens of thousands of entries allocates a small object or
// two per entry, in bursts, and V8 answers bursts by growing its heap far past what is live:
// a 100,000-entry COPY --from peaked at 350 MB for about 40 MB of live objects, and a
// 100,000-file context at 420 MB. Once a build is known to handle that many entries (and
// only then: small builds are faster with V8's defaults), two things bound it:
// - the young generation stops growing (`--semi-space-growth-factor`, read each time V8
//   considers growing, so setting it mid-run takes effect);
// - a full collection runs whenever the heap has grown by 16 MiB since the last one, checked
//   from the loops that walk entries and from a timer. Each costs tens of milliseconds, a few
//   times per 100,000 entries; in all no slower than before (the young generation was).
// 5,000 entries is where it starts: later, the young generation has already grown.
// Both flags exist in the V8 of every Node that ocimake supports; where one does not, memory
// is only higher.

/** Entries past which a build counts as a large tree. */
export const LARGE_TREE = 5_000;
/** Heap growth, in bytes, that triggers a collection on a large tree. */
const STEP = 16 * 2 ** 20;

let allowed = false;
let governed = false;
let collect: (() => void) | undefined;
let baseline = 0;
let collections = 0;

/** Whether the large-tree regime is on, and how many collections it ran (for tests). */
export function heapRegime(): { largeTree: boolean; collections: number } {
  return { largeTree: governed, collections };
}

/**
 * Lets largeTree() change V8's flags and run the collector from a timer. The CLI allows it; a
 * program that imports ocimake as a library keeps its own V8 settings unless it allows it too.
 */
export function allowHeapGovernance(): void {
  allowed = true;
}

/** Switches to the large-tree memory regime (once per process; only where allowed). */
export function largeTree(): void {
  if (governed || !allowed) return;
  governed = true;
  try {
    setFlagsFromString('--semi-space-growth-factor=1');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') collect = gc as () => void;
  } catch {
    /* memory is then only higher */
  }
  baseline = getHeapStatistics().used_heap_size;
  setInterval(collectIfGrown, 20).unref();
}

/** Collects garbage when the heap grew by STEP since the last collection (large trees only; cheap otherwise). */
export function collectIfGrown(): void {
  if (!collect) return;
  if (getHeapStatistics().used_heap_size - baseline < STEP) return;
  collect();
  collections++;
  baseline = getHeapStatistics().used_heap_size;
}
