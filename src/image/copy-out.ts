import { OcimakeError } from '../errors.js';
import type { EntrySource, LayerEntry, ReadySource } from '../layer/entry.js';
import type { MergedEntry, MergedFs } from './merged-fs.js';
import { hasGlob, segmentGlob } from '../util/glob.js';
import { collectIfGrown } from '../util/heap.js';

/** The source of every empty file: one object, not one per file. */
const EMPTY_SOURCE: ReadySource = Object.freeze({ kind: 'bytes', data: Buffer.alloc(0) }) as ReadySource;

/** What one source path of an image holds, as COPY --from copies it. */
export interface CopiedSource {
  /** The path as matched (a wildcard expanded to each match), before following symlinks. */
  requested: string;
  /** The in-image path after following symlinks. */
  path: string;
  kind: 'file' | 'directory';
  /** Entries relative to the source ('' for a file source itself). Paths in `entry` equal `rel`. */
  entries: { rel: string; entry: LayerEntry }[];
}

/**
 * Reads `paths` out of an image the way Docker's COPY --from does: each path itself is
 * followed if it is a symlink; a file gives one entry; a directory gives its merged
 * contents, keeping modes, owners, symlinks and the hardlinks inside the set. File bytes are
 * spooled to `scratch`. Only the layers needed are opened.
 */
export async function copyOut(mfs: MergedFs, paths: readonly string[], scratch: string, what: string, opts: { allowEmptyWildcard?: boolean } = {}): Promise<CopiedSource[]> {
  const found: { requested: string; path: string; root: MergedEntry; items: MergedEntry[] }[] = [];
  for (const pattern of paths) {
    const matches = hasGlob(pattern) ? await expandGlob(mfs, pattern) : [pattern];
    if (matches.length === 0 && opts.allowEmptyWildcard) continue;
    if (matches.length === 0) throw new OcimakeError('SOURCE_NOT_FOUND', `no source files were specified: "${pattern}" matches nothing in ${what}`, { hint: 'check the pattern against the paths inside the image' });
    for (const p of matches) {
      const hit = await mfs.lookup(p);
      if (!hit) throw new OcimakeError('SOURCE_NOT_FOUND', `"${p}" not found in ${what}`, { hint: 'check the path inside the image, e.g. with "ocimake inspect" or "ocimake extract"' });
      const items = hit.entry.entry.type === 'directory' ? await mfs.descendants(hit.path) : [hit.entry];
      found.push({ requested: p, path: hit.path, root: hit.entry, items });
    }
  }
  // Hardlinks whose target is outside the copied set, or no longer the same file there,
  // become regular files with the bytes they were linked to in their own layer.
  // Only hardlinks need a set's names: the maps are made for sets that have any.
  const byPathOf = (f: (typeof found)[number]) => (f.items.some((e) => e.entry.type === 'hardlink') ? new Map(f.items.map((e) => [e.entry.path, e] as const)) : new Map<string, MergedEntry>());
  const byPaths = found.map(byPathOf);
  const extra: MergedEntry[] = [];
  for (const [k, f] of found.entries()) {
    for (const e of f.items) {
      if (e.entry.type === 'hardlink' && !e.linkTarget && !byPaths[k]!.has(e.entry.linkname ?? '')) {
        const t = await mfs.lookup(e.entry.linkname ?? '');
        if (t) extra.push(t.entry);
      }
    }
  }
  // Contents are read when something first needs them (writing the layer, a file, a lookup):
  // a COPY --from whose layer the cache has reads no layer at all. The first reader spools
  // every file of the copy, one pass per layer, and the others share that pass.
  let spooled: Promise<Map<number, Map<string, string | Buffer | null>>> | undefined;
  const spool = () => (spooled ??= mfs.spoolSources(extra.length === 0 && found.length === 1 ? found[0]!.items : [...found.flatMap((f) => f.items), ...extra], scratch));
  const sourceOf = (layer: number, path: string, size: number): EntrySource => {
    if (size === 0) return EMPTY_SOURCE;
    return {
      kind: 'deferred',
      id: `${mfs.layerDigest(layer)}:${path}`,
      load: async (): Promise<ReadySource> => {
        const v = (await spool()).get(layer)?.get(path);
        if (typeof v === 'string') return { kind: 'path', path: v };
        return v && v.length > 0 ? { kind: 'bytes', data: v } : EMPTY_SOURCE;
      },
    };
  };
  const fileOf = (e: MergedEntry): EntrySource => sourceOf(e.layer, e.entry.path, e.entry.size);
  return Promise.all(found.map(async (f, k) => {
    const isDir = f.root.entry.type === 'directory';
    const prefix = f.path === '' ? '' : `${f.path}/`;
    const out: CopiedSource['entries'] = [];
    const byPath = byPaths[k]!;
    for (const e of f.items) {
      if ((out.length & 4095) === 4095) collectIfGrown();
      const rel = isDir ? e.entry.path.slice(prefix.length) : '';
      const { mode, uid, gid } = e.entry;
      const base = { path: rel, mode, uid, gid };
      switch (e.entry.type) {
        case 'directory': out.push({ rel, entry: { path: rel, mode, uid, gid, type: 'directory' } }); break;
        case 'symlink': out.push({ rel, entry: { path: rel, mode, uid, gid, type: 'symlink', linkname: e.entry.linkname ?? '' } }); break;
        case 'file': out.push({ rel, entry: { path: rel, mode, uid, gid, type: 'file', size: e.entry.size, source: fileOf(e) } }); break;
        case 'hardlink': {
          const target = e.entry.linkname ?? '';
          const there = byPath.get(target);
          // Still one inode: the name it links to holds the very file of the link's own layer.
          const sameInode = there !== undefined && (!e.linkTarget || (there.layer === e.linkTarget.layer && there.entry === e.linkTarget.entry));
          if (isDir && sameInode && target.startsWith(prefix)) {
            out.push({ rel, entry: { ...base, type: 'hardlink', linkname: target.slice(prefix.length) } });
          } else if (e.linkTarget) {
            const t = e.linkTarget;
            out.push({ rel, entry: { ...base, type: 'file', size: t.entry.size, source: sourceOf(t.layer, t.entry.path, t.entry.size) } });
          } else {
            const t = await mfs.lookup(target);
            if (!t || t.entry.entry.type !== 'file') throw new OcimakeError('LAYER_UNSAFE', `${what}: hardlink ${e.entry.path} points at missing ${target}`);
            out.push({ rel, entry: { ...base, type: 'file', size: t.entry.entry.size, source: fileOf(t.entry) } });
          }
          break;
        }
        default:
          throw new OcimakeError('UNSUPPORTED', `${what}: ${e.entry.path} is a ${e.entry.type} device or fifo, which cannot be copied without privileges`, { hint: 'copy the files around it instead' });
      }
    }
    return { requested: f.requested, path: f.path, kind: isDir ? 'directory' as const : 'file' as const, entries: out };
  }));
}

/** Expands a Go-style glob (`*`, `?`, `[...]` per segment) against the merged filesystem. */
export async function expandGlob(mfs: MergedFs, pattern: string): Promise<string[]> {
  let current = [''];
  for (const seg of pattern.split('/').filter((s) => s !== '' && s !== '.')) {
    const next: string[] = [];
    for (const base of current) {
      if (!hasGlob(seg)) { next.push(base === '' ? seg : `${base}/${seg}`); continue; }
      const dir = await mfs.lookup(base === '' ? '/' : base);
      if (!dir || dir.entry.entry.type !== 'directory') continue;
      const prefix = dir.path === '' ? '' : `${dir.path}/`;
      const re = segmentGlob(seg);
      for (const e of await mfs.descendants(dir.path)) {
        const name = e.entry.path.slice(prefix.length);
        if (!name.includes('/') && re.test(name)) next.push(base === '' ? name : `${base}/${name}`);
      }
    }
    current = next;
  }
  return current.sort();
}
