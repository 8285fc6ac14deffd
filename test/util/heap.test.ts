import { describe, expect, it } from 'vitest';
import { allowHeapGovernance, collectIfGrown, heapRegime, largeTree } from '../../src/util/heap.js';
import { getHeapStatistics } from 'node:v8';

// The large-tree memory regime: off until a build meets a large tree; then a full collection
// runs whenever the heap has grown by 48 MiB since the last one. Asserted by counts.

describe('heap regime', () => {
  it('does nothing until a large tree, then collects once the heap has grown by 64 MiB', () => {
    const keep: unknown[] = [];
    const garbage = () => { for (let i = 0; i < 400_000; i++) keep.push({ i, s: `entry ${i}` }); keep.length = 0; };
    garbage();
    collectIfGrown();
    expect(heapRegime()).toEqual({ largeTree: false, collections: 0 });
    // A library caller's process keeps its V8 settings: nothing happens until the program allows it (the CLI does).
    largeTree();
    expect(heapRegime().largeTree).toBe(false);
    allowHeapGovernance();
    largeTree();
    expect(heapRegime().largeTree).toBe(true);
    collectIfGrown(); // no growth yet since the regime started
    expect(heapRegime().collections).toBe(0);
    // Grow the heap past the step with objects that stay reachable until the check, then drop them.
    const before = getHeapStatistics().used_heap_size;
    const hold: string[][] = [];
    while (getHeapStatistics().used_heap_size - before < 80 * 2 ** 20) hold.push(Array.from({ length: 1000 }, (_, i) => `x${i}${hold.length}`));
    hold.length = 0;
    collectIfGrown();
    expect(heapRegime().collections).toBe(1);
    expect(getHeapStatistics().used_heap_size - before).toBeLessThan(40 * 2 ** 20);
  });
});
