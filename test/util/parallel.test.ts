import { describe, expect, it } from 'vitest';
import { forEachLimit } from '../../src/util/parallel.js';

describe('forEachLimit', () => {
  it('keeps at most `limit` calls in flight and visits every item once', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    await forEachLimit([...Array(20).keys()], 4, async (n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 1 + (n % 3)));
      seen.push(n);
      inFlight--;
    });
    expect(most).toBe(4);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
  });

  it('rejects with the first failure, starts nothing after it, and leaves no call running', async () => {
    let started = 0;
    let running = 0;
    const p = forEachLimit([...Array(10).keys()], 2, async (n) => {
      started++;
      running++;
      await new Promise((r) => setTimeout(r, 2));
      running--;
      if (n === 1) throw new Error('boom');
    });
    await expect(p).rejects.toThrow('boom');
    expect(running).toBe(0);
    expect(started).toBeLessThanOrEqual(3);
  });
});
