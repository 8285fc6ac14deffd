// Go's filepath.Match for one path segment, which is what Docker uses for COPY sources:
// `*` any run of non-separator characters, `?` one character, `[...]` a class
// (`[^...]` negated, ranges), and the escape `\` before any character.

/** True when `s` contains glob metacharacters. */
export function hasGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

/** Compiles one segment pattern to an anchored RegExp; throws on a malformed class. */
export function segmentRegExp(pattern: string): RegExp {
  return globRegExp(pattern, { slash: false, negators: '^', unclosed: 'throw' });
}

/**
 * A glob as an anchored RegExp: `*`, `?`, `[...]` and `\` escapes. `slash`: `*` and `?` may
 * match `/`; `negators`: what opens a negated class (`^` in Go, `!` and `^` in sh);
 * `unclosed`: a `[` without `]` is a syntax error (Go) or a literal `[` (sh).
 */
export function globRegExp(pattern: string, opts: { slash: boolean; negators: string; unclosed: 'throw' | 'literal' }): RegExp {
  const any = opts.slash ? '[\\s\\S]' : '[^/]';
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') re += `${any}*`;
    else if (ch === '?') re += any;
    else if (ch === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        if (opts.unclosed === 'throw') throw new Error(`syntax error in pattern "${pattern}"`);
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body.length > 0 && opts.negators.includes(body[0]!);
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\]\\]/g, (c) => `\\${c}`)}]`;
      i = end;
    } else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`, 's');
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
