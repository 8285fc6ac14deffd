import { collectIfGrown } from '../util/heap.js';
import { OcimakeError } from '../errors.js';

/**
 * Files up to this size are read (or written) whole, with one synchronous call: that is
 * microseconds, where a stream costs several thread-pool round trips per file, and trees of
 * 100,000 small files spent most of their time waiting on those.
 */
export const SMALL_FILE = 64 * 1024;

/** Where a regular file's bytes come from. */
export type EntrySource = ReadySource | DeferredSource;

/** Bytes at hand: a file on the host, or a buffer. */
export type ReadySource = { kind: 'path'; path: string } | { kind: 'bytes'; data: Buffer };

/**
 * Bytes inside an image's layer, read only when they are needed (COPY --from). `id` names the
 * content exactly and for good, `<layer blob digest>:<path in that layer>`, so the layer cache
 * keys on it without reading the bytes: a hit reads nothing. `load` reads them (every
 * deferred source of one copy shares one pass over each layer).
 */
export interface DeferredSource { kind: 'deferred'; id: string; load(): Promise<ReadySource> }

/** The bytes of a source, reading a deferred one. */
export function readySource(s: EntrySource): ReadySource | Promise<ReadySource> {
  return s.kind === 'deferred' ? s.load() : s;
}

/**
 * One entry of a layer, described before it is written. `path` is relative to the image
 * root, `/`-separated, with no leading `/` and no `.`/`..` segments.
 */
export type LayerEntry =
  | { type: 'file'; path: string; mode: number; uid: number; gid: number; size: number; source: EntrySource }
  | { type: 'directory'; path: string; mode: number; uid: number; gid: number }
  | { type: 'symlink'; path: string; mode: number; uid: number; gid: number; linkname: string }
  | { type: 'hardlink'; path: string; mode: number; uid: number; gid: number; linkname: string };

const NORMAL = 0;
const TRAILING_SLASH = 1;
const OTHER = 2;

/** NORMAL: no empty, `.` or `..` segment (so no leading `/` either); TRAILING_SLASH: that, but for one `/` at the end. */
function shapeOf(p: string): number {
  const n = p.length;
  if (n === 0) return OTHER;
  let start = 0;
  for (let i = 0; i <= n; i++) {
    if (i < n && p.charCodeAt(i) !== 47) continue;
    const len = i - start;
    if (len === 0) return i === n && n > 1 ? TRAILING_SLASH : OTHER;
    if (len <= 2 && p.charCodeAt(start) === 46 && (len === 1 || p.charCodeAt(start + 1) === 46)) return OTHER;
    start = i + 1;
  }
  return NORMAL;
}

/** Normalises an in-image path ("/usr//bin/./x/" → "usr/bin/x"); refuses ".." escapes. */
export function normalizeEntryPath(p: string): string {
  // Most paths are normal already, or only end in '/' (a directory's name in a tar): one scan
  // of the characters says so, instead of a split and a join (a deep tree's paths are long,
  // and they pass through here several times).
  const k = shapeOf(p);
  if (k === NORMAL) return p;
  if (k === TRAILING_SLASH) return p.slice(0, -1);
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) throw new OcimakeError('PATH_ESCAPE', `path "${p}" escapes the image root`);
      out.pop();
      continue;
    }
    out.push(seg);
  }
  return out.join('/');
}

/** The parents of an in-image path, nearest first: "a/b/c" gives "a/b", then "a". */
export function* parentsNearestFirst(path: string): Generator<string> {
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) yield path.slice(0, i);
}

/** Byte-wise comparison of paths, the order in which entries are written. */
export function comparePaths(a: string, b: string): number {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return Buffer.compare(ba, bb);
}

/**
 * Prepares entries for writing: normalises paths, lets a later entry for the same path
 * replace an earlier one, adds missing parent directories (as `parentFor` describes them:
 * by default 0755 and root-owned) and sorts everything so parents precede children.
 */
export function finalizeEntries(entries: readonly LayerEntry[], parentFor: (path: string) => LayerEntry = defaultParent): readonly LayerEntry[] {
  // A list this function returned is final already (its parents are there, so `parentFor` has
  // nothing to add): a step's entries pass through here up to four times on their way to the
  // tar, and a 100,000-entry COPY made four copies of everything.
  if (finalized.has(entries)) return entries;
  const byPath = new Map<string, LayerEntry>();
  let n = 0;
  for (const e of entries) {
    if ((++n & 4095) === 0) collectIfGrown();
    const path = normalizeEntryPath(e.path);
    if (path === '') continue; // the root itself is never an entry
    const linkname = e.type === 'hardlink' ? normalizeEntryPath(e.linkname) : undefined;
    // Entries are values: one already normal is kept, not copied.
    byPath.set(path, path === e.path && (linkname === undefined || (e.type === 'hardlink' && linkname === e.linkname)) ? e : linkname === undefined ? { ...e, path } : ({ ...e, path, linkname } as LayerEntry));
  }
  // Parents, nearest first, stopping at the first one present: an entry of the input gets its
  // own chain on its turn, and a parent added here got its chain when it was added. (Walking
  // every prefix of every path was cubic in the depth of a 2,000-level tree.)
  for (const path of [...byPath.keys()]) {
    for (const parent of parentsNearestFirst(path)) {
      if (byPath.has(parent)) break;
      byPath.set(parent, { ...parentFor(parent), path: parent });
    }
  }
  const out = linksAfterTargets(sortByPath([...byPath.values()]));
  finalized.add(out);
  return out;
}

/** Lists finalizeEntries returned (to be treated as read-only). */
const finalized = new WeakSet<readonly LayerEntry[]>();

/** Marks a list made entry for entry from a final one (same paths, same order; other sources) as final. */
export function markFinal(derived: readonly LayerEntry[]): readonly LayerEntry[] {
  finalized.add(derived);
  return derived;
}

/** Code units from here up (surrogates and above) do not sort as UTF-8 bytes do. */
const NOT_BYTE_ORDER = /[\uD800-\uFFFF]/;

/**
 * Sorts entries by their paths' UTF-8 bytes with `/` lowest. Code units compare as their
 * bytes do when none is a surrogate or above (nearly always): then the paths are compared in
 * place, with no key made per entry; otherwise through Buffer keys.
 */
function sortByPath(entries: LayerEntry[]): LayerEntry[] {
  if (entries.some((e) => NOT_BYTE_ORDER.test(e.path))) {
    const bytes = entries.map((e) => ({ e, b: Buffer.from(sortKey(e.path)) }));
    bytes.sort((a, b) => Buffer.compare(a.b, b.b));
    return bytes.map((x) => x.e);
  }
  return entries.sort((a, b) => comparePathUnits(a.path, b.path));
}

/** Compares two paths by code units, `/` lowest. */
function comparePathUnits(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 47) x = 0;
    if (y === 47) y = 0;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Makes every hardlink come after the file it links to, as GNU tar and extractors need: when
 * a link sorts before its target, the two swap roles (the first name holds the bytes, the
 * other links to it; both are the same inode either way).
 */
function linksAfterTargets(sorted: LayerEntry[]): LayerEntry[] {
  const at = new Map(sorted.map((e, i) => [e.path, i] as const));
  const renamed = new Map<string, string>();
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i]!;
    if (e.type !== 'hardlink') continue;
    const linkname = renamed.get(e.linkname) ?? e.linkname;
    if (linkname !== e.linkname) sorted[i] = { ...e, linkname };
    const j = at.get(linkname);
    const t = j === undefined ? undefined : sorted[j];
    if (j === undefined || j < i || t?.type !== 'file') continue;
    sorted[i] = { ...t, path: e.path };
    sorted[j] = { type: 'hardlink', path: t.path, mode: t.mode, uid: t.uid, gid: t.gid, linkname: e.path };
    renamed.set(t.path, e.path);
  }
  return sorted;
}

// Sorting "a/b" against "a-c": compare with "/" lowest so every directory's children
// directly follow it, whatever other names share its prefix.
function sortKey(p: string): string {
  return p.replaceAll('/', '\u0000');
}

function defaultParent(path: string): LayerEntry {
  return { type: 'directory', path, mode: 0o755, uid: 0, gid: 0 };
}
