import { mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDigest } from '../oci/digest.js';
import { tempPathBeside } from '../util/temp-files.js';

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
const TYPE_CODES: Record<TarEntry['type'], string> = { file: 'f', directory: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' };
const TYPES = new Map(Object.entries(TYPE_CODES).map(([t, c]) => [c, t as TarEntry['type']]));

/** Entry indexes of layer blobs, by blob digest. */
export interface EntryIndexStore {
  /** The entries of a layer, as recorded (not yet checked), or undefined when none is kept or it is unreadable. */
  get(digest: string): TarEntry[] | undefined;
  /** Records a layer's entries, read completely from its blob. Failures are ignored (it is a cache). */
  put(digest: string, entries: readonly TarEntry[]): void;
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
export function encodeRows(entries: readonly TarEntry[]): unknown[][] {
  return entries.map((e) => [e.path, TYPE_CODES[e.type], e.mode, e.uid, e.gid, e.size, ...(e.linkname !== undefined ? [e.linkname] : [])]);
}

/** Index rows back to entries, shape-checked (not yet checked as layer entries); undefined when malformed. */
export function decodeRows(rows: unknown): TarEntry[] | undefined {
  if (!Array.isArray(rows)) return undefined;
  const out: TarEntry[] = [];
  for (const row of rows as unknown[]) {
    if (!Array.isArray(row) || row.length < 6 || row.length > 7) return undefined;
    const [path, code, mode, uid, gid, size, linkname] = row as unknown[];
    const type = TYPES.get(code as string);
    if (typeof path !== 'string' || !type || !isCount(mode) || !isCount(uid) || !isCount(gid) || !isCount(size)) return undefined;
    if ((type === 'symlink' || type === 'hardlink') !== (typeof linkname === 'string')) return undefined;
    const e: TarEntry = { path, type, mode, uid, gid, size };
    if (typeof linkname === 'string') e.linkname = linkname;
    out.push(e);
  }
  return out;
}

/** The rows of an index file, shape-checked; undefined when it is not one (a miss). */
function parseIndex(text: string, digest: string): TarEntry[] | undefined {
  let j: unknown;
  try { j = JSON.parse(text); } catch { return undefined; }
  const o = j as { format?: unknown; digest?: unknown; entries?: unknown };
  if (!o || o.format !== FORMAT || o.digest !== digest) return undefined;
  return decodeRows(o.entries);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
