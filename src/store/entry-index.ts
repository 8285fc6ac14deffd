import { mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDigest } from '../oci/digest.js';
import { tempPathBeside } from '../util/temp-files.js';
import { largeTree } from '../util/heap.js';

// The entry index of a layer: what the layer reader yields for a blob (paths, types, modes,
// owners, sizes, link targets), without the bodies, in `<cache dir>/layer-index`. A layer blob
// is content-addressed, so its index never goes stale: the merged view of a base image then
// lists its layers without gunzipping them, or even downloading them. This file only stores
// and shape-checks rows; the merged view passes each entry through the same checks as an
// entry read from the tar (path safety, the limits as they are now), so a hand-edited index
// is never trusted more than the layer. Each index is written once, after a complete read,
// by a rename; an unreadable or truncated one is a miss.

/** One entry of a layer (the layer reader's output), with its path normalised and checked. */
export interface TarEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname?: string;
}

const FORMAT = 'ocimake-layer-index-v1';
/** Bytes of index text past which a layer counts as a large tree (about 5,000 rows). */
const LARGE_INDEX = 150_000;
const TYPE_CODES: Record<TarEntry['type'], string> = { file: 'f', directory: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' };
const TYPES = new Map(Object.entries(TYPE_CODES).map(([t, c]) => [c, t as TarEntry['type']]));

/** Entry indexes of layer blobs, by blob digest. */
export interface EntryIndexStore {
  /**
   * The entries of a layer, as recorded (shape-checked, not yet checked as layer entries), or
   * undefined when none is kept or it is unreadable. Iterate once: each row is decoded when
   * reached and let go of, so 100,000 rows are never held in two forms at once.
   */
  get(digest: string): Iterable<TarEntry> | undefined;
  /** Records a layer's entries, read completely from its blob. Failures are ignored (it is a cache). */
  put(digest: string, entries: Iterable<TarEntry>): void;
}

/** An EntryIndexStore in `dir` (`<cache dir>/layer-index`), one file per layer digest. */
export function entryIndexStore(dir: string): EntryIndexStore {
  const fileOf = (digest: string) => join(dir, `${digest.replace(':', '-')}.json`);
  return {
    get(digest) {
      if (!isDigest(digest)) return undefined;
      let text: string;
      try {
        text = readFileSync(fileOf(digest), 'utf8');
      } catch {
        return undefined;
      }
      // An index this size holds thousands of entries: the large-tree memory regime starts
      // before the parse, not after it (the parse alone grew the heap by 20 MB for good).
      if (text.length > LARGE_INDEX) largeTree();
      const entries = parseIndex(text, digest);
      if (!entries) return undefined;
      try { const now = new Date(); utimesSync(fileOf(digest), now, now); } catch { /* used-time is a hint for prune */ }
      return entries;
    },
    put(digest, entries) {
      if (!isDigest(digest)) return;
      const file = fileOf(digest);
      const tmp = tempPathBeside(file);
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(tmp, JSON.stringify({ format: FORMAT, digest, entries: encodeRows(entries) }));
        renameSync(tmp, file);
      } catch {
        rmSync(tmp, { force: true });
      }
    },
  };
}

/** Entries as index rows: `[path, type code, mode, uid, gid, size, linkname?]`. */
export function encodeRows(entries: Iterable<TarEntry>): unknown[][] {
  const rows: unknown[][] = [];
  for (const e of entries) rows.push([e.path, TYPE_CODES[e.type], e.mode, e.uid, e.gid, e.size, ...(e.linkname !== undefined ? [e.linkname] : [])]);
  return rows;
}

/** True when a row has an index row's shape. */
function rowOk(row: unknown): boolean {
  if (!Array.isArray(row) || row.length < 6 || row.length > 7) return false;
  const [path, code, mode, uid, gid, size, linkname] = row as unknown[];
  const type = TYPES.get(code as string);
  if (typeof path !== 'string' || !type || !isCount(mode) || !isCount(uid) || !isCount(gid) || !isCount(size)) return false;
  return (type === 'symlink' || type === 'hardlink') === (typeof linkname === 'string');
}

/**
 * Index rows back to entries, all shape-checked first (not yet checked as layer entries);
 * undefined when one is malformed. The entries are made as they are iterated, and each row
 * is dropped from `rows` once made.
 */
export function decodeRows(rows: unknown): Iterable<TarEntry> | undefined {
  if (!Array.isArray(rows)) return undefined;
  const list = rows as unknown[];
  for (const row of list) if (!rowOk(row)) return undefined;
  return (function* () {
    for (let i = 0; i < list.length; i++) {
      const [path, code, mode, uid, gid, size, linkname] = list[i] as [string, string, number, number, number, number, string?];
      list[i] = undefined;
      const e: TarEntry = { path, type: TYPES.get(code)!, mode, uid, gid, size };
      if (typeof linkname === 'string') e.linkname = linkname;
      yield e;
    }
  })();
}

/** The rows of an index file, shape-checked; undefined when it is not one (a miss). */
function parseIndex(text: string, digest: string): Iterable<TarEntry> | undefined {
  let j: unknown;
  try { j = JSON.parse(text); } catch { return undefined; }
  const o = j as { format?: unknown; digest?: unknown; entries?: unknown };
  if (!o || o.format !== FORMAT || o.digest !== digest) return undefined;
  return decodeRows(o.entries);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
