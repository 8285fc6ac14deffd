// Alpine package versions, ordered as apk-tools compares them (src/version.c): numbers, a
// letter, suffixes (_alpha _beta _pre _rc before the release; _cvs _svn _git _hg _p after),
// then -rN. A version that stops early is older, unless what the other has next is a
// pre-release suffix.

const enum T { DigitOrZero = 0, Digit = 1, Letter = 2, Suffix = 3, SuffixNo = 4, Revision = 5, End = 6, Invalid = 7 }
const PRE = ['alpha', 'beta', 'pre', 'rc'];
const POST = ['cvs', 'svn', 'git', 'hg', 'p'];

interface Tok { t: T; v: number }

function tokens(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const num = () => { const m = /^\d+/.exec(s.slice(i)); if (!m) return undefined; i += m[0].length; return m[0]; };
  const first = num();
  if (first === undefined) return [{ t: T.Invalid, v: 0 }];
  out.push({ t: T.Digit, v: Number(first) });
  for (;;) {
    while (s[i] === '.') {
      i++;
      const d = num();
      if (d === undefined) return [...out, { t: T.Invalid, v: 0 }];
      // A component with leading zeros compares below every plain number (apk: "1.01" < "1.1").
      const zeros = /^0+/.exec(d)?.[0].length ?? 0;
      if (zeros > 0 && d.length > 1) { out.push({ t: T.DigitOrZero, v: -zeros }); out.push({ t: T.Digit, v: Number(d.slice(zeros)) }); } else out.push({ t: T.DigitOrZero, v: Number(d) });
    }
    if (!/[a-z]/.test(s[i] ?? '')) break;
    out.push({ t: T.Letter, v: s.charCodeAt(i++) });
    // apk lets digits follow a letter ("0.99f7").
    const more = num();
    if (more === undefined) break;
    out.push({ t: T.Digit, v: Number(more) });
  }
  while (s[i] === '_') {
    const m = /^_([a-z]+)/.exec(s.slice(i));
    if (!m) return [...out, { t: T.Invalid, v: 0 }];
    const pre = PRE.indexOf(m[1]!);
    const post = POST.indexOf(m[1]!);
    if (pre < 0 && post < 0) return [...out, { t: T.Invalid, v: 0 }];
    i += m[0].length;
    out.push({ t: T.Suffix, v: pre >= 0 ? pre - PRE.length : post });
    const n = num();
    if (n !== undefined) out.push({ t: T.SuffixNo, v: Number(n) });
  }
  if (s[i] === '~') { i++; while (/[0-9a-f]/.test(s[i] ?? '')) i++; }
  if (s.startsWith('-r', i)) {
    i += 2;
    const r = num();
    if (r === undefined) return [...out, { t: T.Invalid, v: 0 }];
    out.push({ t: T.Revision, v: Number(r) });
  }
  out.push({ t: i === s.length ? T.End : T.Invalid, v: 0 });
  return out;
}

/** True when apk accepts the string as a version. */
export function validVersion(s: string): boolean {
  // The common form, valid for certain, without the tokenizer (an index holds thousands).
  if (/^\d+(?:\.\d+)*(?:-r\d+)?$/.test(s)) return true;
  return !tokens(s).some((t) => t.t === T.Invalid);
}

/** Compares two versions: negative when a is older, 0 when equal, positive when newer. */
export function compareVersions(a: string, b: string): number {
  const ta = tokens(a);
  const tb = tokens(b);
  let i = 0;
  for (; i < ta.length && i < tb.length; i++) {
    const x = ta[i]!;
    const y = tb[i]!;
    const kx = x.t === T.DigitOrZero ? T.Digit : x.t;
    const ky = y.t === T.DigitOrZero ? T.Digit : y.t;
    if (kx !== ky || kx === T.End || kx === T.Invalid) break;
    if (x.v !== y.v) return x.v < y.v ? -1 : 1;
  }
  const x = ta[i] ?? { t: T.End, v: 0 };
  const y = tb[i] ?? { t: T.End, v: 0 };
  if (x.t === y.t) return 0;
  if (x.t === T.Suffix && x.v < 0) return -1;
  if (y.t === T.Suffix && y.v < 0) return 1;
  return x.t > y.t ? -1 : 1;
}

export type Op = '=' | '>=' | '<=' | '>' | '<' | '~' | '><' | '';

/** True when `version` meets `op wanted` (`~1.2` is a fuzzy match: 1.2 and every 1.2.x, 1.2_rc, 1.2-rN). */
export function satisfies(version: string, op: Op, wanted: string): boolean {
  if (op === '') return true;
  if (op === '~') return version === wanted || (version.startsWith(wanted) && /^[._\-a-z~]/.test(version.slice(wanted.length))) || compareVersions(version, wanted) === 0;
  const c = compareVersions(version, wanted);
  switch (op) {
    case '=': return c === 0;
    case '>=': return c >= 0;
    case '<=': return c <= 0;
    case '>': return c > 0;
    case '<': return c < 0;
    case '><': return c !== 0;
  }
}
