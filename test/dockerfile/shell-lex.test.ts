import { describe, expect, it } from 'vitest';
import { expandWord, expandWords } from '../../src/dockerfile/shell-lex.js';

const env = new Map([['A', 'apple'], ['EMPTY', ''], ['SP', 'a b']]);

describe('variable expansion as Docker does it', () => {
  it.each([
    ['$A', 'apple'],
    ['${A}', 'apple'],
    ['x${A}y', 'xappley'],
    ['$A-$A', 'apple-apple'],
    ['${MISSING}', ''],
    ['${MISSING:-def}', 'def'],
    ['${EMPTY:-def}', 'def'],
    ['${EMPTY-def}', ''],
    ['${MISSING-def}', 'def'],
    ['${A:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${MISSING:-${A}}', 'apple'],
    ["'$A'", '$A'],
    ['"$A"', 'apple'],
    ['"a \\"q\\" b"', 'a "q" b'],
    ['\\$A', '$A'],
    ['$', '$'],
    ['a$', 'a$'],
    ['$1', ''],
  ])('%s → %s', (word, expected) => {
    expect(expandWord(word, env)).toBe(expected);
  });

  it('fails ${VAR:?msg} when unset', () => {
    expect(() => expandWord('${MISSING:?need it}', env)).toThrow(/MISSING: need it/);
    expect(expandWord('${A:?x}', env)).toBe('apple');
  });

  it('refuses unsupported modifiers with a hint', () => {
    expect(() => expandWord('${A/a/b}', env)).toThrow(/unsupported modifier/);
  });

  it('splits words on unquoted whitespace only', () => {
    expect(expandWords('a "b c" "${SP}"', env)).toEqual(['a', 'b c', 'a b']);
    expect(expandWords('x ${SP} y', env)).toEqual(['x', 'a', 'b', 'y']);
    expect(expandWords('p${SP}q', env)).toEqual(['pa', 'bq']);
    expect(expandWords('  ', env)).toEqual([]);
  });

  it('uses the backtick escape token when the Dockerfile sets it', () => {
    expect(expandWord('C:`$A\\x', env, '`')).toBe('C:$A\\x');
  });
});
