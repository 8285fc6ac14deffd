// Glob patterns, matched without backtracking. One compiler serves two dialects: Go's
// filepath.Match for one path segment, which Docker uses for COPY sources (`[^...]`, a `[`
// without `]` is an error), and the shell's patterns (case, ${x#pat}, ${x/pat/rep}, pathname
// expansion, find -name: `[!...]` or `[^...]`, POSIX classes such as `[[:digit:]]`, an unclosed
// `[` is literal). `*` any run of characters, `?` one character, `\` escapes the next.
//
// Matching simulates the pattern's automaton over the subject, one set of positions per
// character, so it costs at most |subject| × |pattern| steps: a RegExp built from a glob
// backtracks, and `a*a*a*…b` against 40 a's would not end.

type Tok = { k: 'lit'; c: number } | { k: 'any' } | { k: 'star' } | { k: 'class'; neg: boolean; ranges: number[]; named: string[] };

export interface GlobOptions {
  /** `*` and `?` may match `/` */
  slash: boolean;
  /** what opens a negated class: `^` in Go, `!` and `^` in sh */
  negators: string;
  /** a `[` without `]`: a syntax error (Go) or a literal `[` (sh) */
  unclosed: 'throw' | 'literal';
}

const SLASH = 0x2f;
const NAMED: Record<string, (c: number) => boolean> = {
  alpha: (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122),
  digit: (c) => c >= 48 && c <= 57,
  alnum: (c) => NAMED.alpha!(c) || NAMED.digit!(c),
  upper: (c) => c >= 65 && c <= 90,
  lower: (c) => c >= 97 && c <= 122,
  space: (c) => c === 32 || (c >= 9 && c <= 13),
  blank: (c) => c === 32 || c === 9,
  xdigit: (c) => NAMED.digit!(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102),
  punct: (c) => c > 32 && c < 127 && !NAMED.alnum!(c),
  print: (c) => c >= 32 && c < 127,
  graph: (c) => c > 32 && c < 127,
  cntrl: (c) => c < 32 || c === 127,
};

/** A compiled glob. Subjects are matched by code point. */
export class Glob {
  readonly #toks: Tok[];
  readonly #slash: boolean;
  /** The states before the first character: 0 and what leading stars let it skip to. */
  readonly #initial: number[];
  #reversed?: Glob;

  constructor(toks: Tok[], slash: boolean) {
    this.#toks = toks;
    this.#slash = slash;
    this.#initial = this.#close([0]);
  }

  /** Does the whole of `s` match? */
  test(s: string): boolean {
    let set = this.#initial;
    for (const ch of s) {
      set = this.#step(set, ch.codePointAt(0)!);
      if (set.length === 0) return false;
    }
    return set.includes(this.#toks.length);
  }

  /** The shortest or longest prefix of `s` that matches, as its length in UTF-16 units; -1 if none. */
  prefix(s: string, longest: boolean): number {
    const end = this.#toks.length;
    let set = this.#initial;
    let best = set.includes(end) ? 0 : -1;
    if (best === 0 && !longest) return 0;
    let at = 0;
    for (const ch of s) {
      at += ch.length;
      set = this.#step(set, ch.codePointAt(0)!);
      if (set.length === 0) break;
      if (set.includes(end)) {
        best = at;
        if (!longest) return best;
      }
    }
    return best;
  }

  /** The shortest or longest suffix of `s` that matches, as its length in UTF-16 units; -1 if none. */
  suffix(s: string, longest: boolean): number {
    this.#reversed ??= new Glob([...this.#toks].reverse(), this.#slash);
    return this.#reversed.prefix(reverse(s), longest);
  }

  /** The leftmost, then longest, match in `s` at or after `from`: [start, end) in UTF-16 units. */
  find(s: string, from = 0): [number, number] | undefined {
    const end = this.#toks.length;
    // starts[q]: the leftmost start of a thread in state q, or -1. A later start in the same
    // state can only end where the earlier one can, so it is dropped.
    let starts = new Array<number>(end + 1).fill(-1);
    let found: [number, number] | undefined;
    for (let p = from; ; ) {
      if (!found) this.#inject(starts, p);
      if (starts[end]! >= 0 && (!found || starts[end]! <= found[0])) found = [starts[end]!, p];
      if (found) for (let q = 0; q <= end; q++) if (starts[q]! > found[0]) starts[q] = -1;
      if (p >= s.length || (found && !starts.some((x) => x >= 0))) break;
      const c = s.codePointAt(p)!;
      starts = this.#stepStarts(starts, c);
      p += c > 0xffff ? 2 : 1;
    }
    return found;
  }

  /** Adds the states a `*` lets the automaton skip to. */
  #close(set: number[]): number[] {
    const out: number[] = [];
    const seen = new Uint8Array(this.#toks.length + 1);
    for (let q of set) {
      while (!seen[q]) {
        seen[q] = 1;
        out.push(q);
        if (this.#toks[q]?.k !== 'star') break;
        q++;
      }
    }
    return out;
  }

  #step(set: number[], c: number): number[] {
    const next: number[] = [];
    for (const q of set) {
      const t = this.#toks[q];
      if (!t) continue;
      if (t.k === 'star') { if (this.#slash || c !== SLASH) next.push(q); } else if (this.#accepts(t, c)) next.push(q + 1);
    }
    return this.#close(next);
  }

  #inject(starts: number[], p: number): void {
    for (const q of this.#initial) if (starts[q]! < 0) starts[q] = p;
  }

  #stepStarts(starts: number[], c: number): number[] {
    const next = new Array<number>(starts.length).fill(-1);
    const put = (q: number, s: number) => {
      for (;;) {
        if (next[q]! < 0 || next[q]! > s) next[q] = s;
        if (this.#toks[q]?.k !== 'star') return;
        q++;
      }
    };
    starts.forEach((s, q) => {
      const t = this.#toks[q];
      if (s < 0 || !t) return;
      if (t.k === 'star') { if (this.#slash || c !== SLASH) put(q, s); } else if (this.#accepts(t, c)) put(q + 1, s);
    });
    return next;
  }

  #accepts(t: Tok, c: number): boolean {
    switch (t.k) {
      case 'lit': return t.c === c;
      case 'any': return this.#slash || c !== SLASH;
      case 'class': {
        let hit = t.named.some((n) => NAMED[n]!(c));
        for (let i = 0; !hit && i < t.ranges.length; i += 2) hit = c >= t.ranges[i]! && c <= t.ranges[i + 1]!;
        return hit !== t.neg;
      }
      default: return false;
    }
  }
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}

/** True when `s` contains glob metacharacters. */
export function hasGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

/** Compiles one COPY source segment (Go's filepath.Match); throws on a malformed class. */
export function segmentGlob(pattern: string): Glob {
  return compileGlob(pattern, { slash: false, negators: '^', unclosed: 'throw' });
}

/** Compiles a glob; see the file's head for the two dialects. */
export function compileGlob(pattern: string, opts: GlobOptions): Glob {
  const cps = Array.from(pattern, (ch) => ch.codePointAt(0)!);
  const toks: Tok[] = [];
  const named = opts.negators.includes('!');
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c === 0x2a) { if (toks.at(-1)?.k !== 'star') toks.push({ k: 'star' }); } else if (c === 0x3f) toks.push({ k: 'any' });
    else if (c === 0x5c && i + 1 < cps.length) toks.push({ k: 'lit', c: cps[++i]! });
    else if (c === 0x5b) {
      const cls = parseClass(cps, i + 1, opts.negators, named);
      if (!cls) {
        if (opts.unclosed === 'throw') throw new Error(`syntax error in pattern "${pattern}"`);
        toks.push({ k: 'lit', c });
        continue;
      }
      toks.push(cls.tok);
      i = cls.end;
    } else toks.push({ k: 'lit', c });
  }
  return new Glob(toks, opts.slash);
}

/** A bracket expression from just after its `[`; undefined when it has no closing `]`. */
function parseClass(cps: number[], at: number, negators: string, named: boolean): { tok: Tok; end: number } | undefined {
  let i = at;
  const neg = i < cps.length && negators.includes(String.fromCodePoint(cps[i]!));
  if (neg) i++;
  const ranges: number[] = [];
  const names: string[] = [];
  for (let first = true; i < cps.length; first = false) {
    let c = cps[i]!;
    if (c === 0x5d && !first) return { tok: { k: 'class', neg, ranges, named: names }, end: i };
    if (named && c === 0x5b && cps[i + 1] === 0x3a) {
      const close = findNamedEnd(cps, i + 2);
      const name = close < 0 ? '' : String.fromCodePoint(...cps.slice(i + 2, close));
      if (NAMED[name]) { names.push(name); i = close + 2; continue; }
    }
    if (c === 0x5c && i + 1 < cps.length) c = cps[++i]!;
    let hi = c;
    if (cps[i + 1] === 0x2d && i + 2 < cps.length && cps[i + 2] !== 0x5d) {
      i += 2;
      hi = cps[i] === 0x5c && i + 1 < cps.length ? cps[++i]! : cps[i]!;
    }
    ranges.push(c, hi); // a reversed range matches nothing, as in Go and sh
    i++;
  }
  return undefined;
}

function findNamedEnd(cps: number[], from: number): number {
  for (let i = from; i + 1 < cps.length; i++) if (cps[i] === 0x3a && cps[i + 1] === 0x5d) return i;
  return -1;
}
