import { describe, expect, it } from 'vitest';
import { compileGlob, segmentGlob } from '../../src/util/glob.js';

// Issue 27 §1: patterns are matched without backtracking. A RegExp built from `*a*a…*b`
// backtracks through every way of splitting the subject and does not end on 40 a's.

const sh = (p: string, slash = true) => compileGlob(p, { slash, negators: '!^', unclosed: 'literal' });

describe('glob matching', () => {
  it('matches as sh and Go do', () => {
    const cases: [string, string, boolean][] = [
      ['*', '', true], ['*', 'abc', true], ['a*c', 'abbbc', true], ['a*c', 'abbb', false],
      ['?', 'é', true], ['??', '😀', false], ['?', '😀', true],
      ['[a-c]x', 'bx', true], ['[!a-c]x', 'bx', false], ['[^a-c]x', 'dx', true],
      ['[]a]', ']', true], ['[[:digit:]]*', '7up', true], ['[[:alpha:]]', '7', false],
      ['[z-a]', 'm', false], ['\\*', '*', true], ['\\*', 'a', false], ['[', '[', true],
      ['a[\\]]b', 'a]b', true], ['*.tar.gz', 'x.tar.gz', true], ['*.tar.gz', 'x.tgz', false],
    ];
    for (const [p, s, want] of cases) expect([p, s, sh(p).test(s)]).toEqual([p, s, want]);
  });

  it('keeps * and ? within a path segment when asked', () => {
    expect(sh('a*', false).test('a/b')).toBe(false);
    expect(sh('a?b', false).test('a/b')).toBe(false);
    expect(sh('a*', true).test('a/b')).toBe(true);
  });

  it('Go\'s dialect: an unclosed class is an error, ! is literal', () => {
    expect(() => segmentGlob('a[b')).toThrow(/syntax error in pattern/);
    expect(segmentGlob('[!a]').test('!')).toBe(true);
    expect(segmentGlob('[^a]').test('b')).toBe(true);
  });

  it('finds the shortest and longest prefix and suffix', () => {
    const p = sh('*/');
    expect(p.prefix('a/b/c', false)).toBe(2);
    expect(p.prefix('a/b/c', true)).toBe(4);
    expect(sh('/*').suffix('a/b/c', false)).toBe(2);
    expect(sh('/*').suffix('a/b/c', true)).toBe(4);
    expect(sh('x').prefix('abc', true)).toBe(-1);
    expect(sh('*').prefix('abc', false)).toBe(0);
  });

  it('finds the leftmost, then longest, match', () => {
    expect(sh('b*').find('abcbd')).toEqual([1, 5]);
    expect(sh('b?').find('abcbd')).toEqual([1, 3]);
    expect(sh('b?').find('abcbd', 2)).toEqual([3, 5]);
    expect(sh('c*d').find('xcabcd')).toEqual([1, 6]);
    expect(sh('q').find('abc')).toBeUndefined();
  });

  it('does not backtrack: 13 stars against 40 a\'s, and a long subject, end at once', () => {
    const p = `${'*a'.repeat(12)}*b`;
    expect(sh(p).test('a'.repeat(40))).toBe(false);
    expect(sh(p).prefix('a'.repeat(40), true)).toBe(-1);
    expect(sh(p).find('a'.repeat(200))).toBeUndefined();
    expect(segmentGlob(p).test('a'.repeat(40))).toBe(false);
    expect(sh('*x*').test('y'.repeat(200_000))).toBe(false);
  });
});
