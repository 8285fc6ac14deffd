import { describe, expect, it } from 'vitest';
import { findRange } from '../../src/run/exec/subids.js';

// /etc/subuid and /etc/subgid as shadow writes them: NAME_OR_UID:START:COUNT per line.
describe('findRange', () => {
  const text = '# comment\nalice:100000:65536\n1001:300000:1000\nbob:bad:65536\nbob:400000:0\nbob:500000:65536\n';
  it('finds a user by name, or by number', () => {
    expect(findRange(text, 'alice', 1000)).toEqual({ start: 100000, count: 65536 });
    expect(findRange(text, 'carol', 1001)).toEqual({ start: 300000, count: 1000 });
  });
  it('skips lines that are not a range, and takes the first that is', () => {
    expect(findRange(text, 'bob', 1002)).toEqual({ start: 500000, count: 65536 });
  });
  it('finds nothing for a user without a range', () => {
    expect(findRange(text, 'dave', 1003)).toBeUndefined();
    expect(findRange('', 'alice', 1000)).toBeUndefined();
  });
});
