import { OcimakeError } from '../errors.js';
import type { LayerEntry } from '../layer/entry.js';
import type { MergedEntry, MergedFs } from './merged-fs.js';

/** What one source path of an image holds, as COPY --from copies it. */
export interface CopiedSource {
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
export async function copyOut(mfs: MergedFs, paths: readonly string[], scratch: string, what: string): Promise<CopiedSource[]> {
  const found: { path: string; root: MergedEntry; items: MergedEntry[] }[] = [];
  for (const p of paths) {
    if (/[*?[]/.test(p)) throw new OcimakeError('UNSUPPORTED', `wildcards in COPY --from ("${p}") are not supported yet`, { hint: 'name the files or their directory' });
    const hit = await mfs.lookup(p);
    if (!hit) throw new OcimakeError('SOURCE_NOT_FOUND', `"${p}" not found in ${what}`, { hint: 'check the path inside the image, e.g. with "ocimake inspect" or "ocimake extract"' });
    const items = hit.entry.entry.type === 'directory' ? await mfs.descendants(hit.path) : [hit.entry];
    found.push({ path: hit.path, root: hit.entry, items });
  }
  // Hardlinks whose target is outside the copied set become regular files with the target's bytes.
  const extra: MergedEntry[] = [];
  for (const f of found) {
    const inSet = new Set(f.items.map((e) => e.entry.path));
    for (const e of f.items) {
      if (e.entry.type === 'hardlink' && !inSet.has(e.entry.linkname ?? '')) {
        const t = await mfs.lookup(e.entry.linkname ?? '');
        if (t) extra.push(t.entry);
      }
    }
  }
  const spooled = await mfs.spool([...found.flatMap((f) => f.items), ...extra], scratch);
  const fileOf = (e: MergedEntry): string | undefined => spooled.get(`${e.layer}:${e.entry.path}`);
  return Promise.all(found.map(async (f) => {
    const isDir = f.root.entry.type === 'directory';
    const prefix = f.path === '' ? '' : `${f.path}/`;
    const out: CopiedSource['entries'] = [];
    const inSet = new Set(f.items.map((e) => e.entry.path));
    for (const e of f.items) {
      const rel = isDir ? e.entry.path.slice(prefix.length) : '';
      const base = { path: rel, mode: e.entry.mode, uid: e.entry.uid, gid: e.entry.gid };
      switch (e.entry.type) {
        case 'directory': out.push({ rel, entry: { ...base, type: 'directory' } }); break;
        case 'symlink': out.push({ rel, entry: { ...base, type: 'symlink', linkname: e.entry.linkname ?? '' } }); break;
        case 'file': out.push({ rel, entry: { ...base, type: 'file', size: e.entry.size, source: { kind: 'path', path: fileOf(e)! } } }); break;
        case 'hardlink': {
          const target = e.entry.linkname ?? '';
          if (isDir && inSet.has(target) && target.startsWith(prefix)) {
            out.push({ rel, entry: { ...base, type: 'hardlink', linkname: target.slice(prefix.length) } });
          } else {
            const t = await mfs.lookup(target);
            if (!t || t.entry.entry.type !== 'file') throw new OcimakeError('LAYER_UNSAFE', `${what}: hardlink ${e.entry.path} points at missing ${target}`);
            out.push({ rel, entry: { ...base, type: 'file', size: t.entry.entry.size, source: { kind: 'path', path: fileOf(t.entry)! } } });
          }
          break;
        }
        default:
          throw new OcimakeError('UNSUPPORTED', `${what}: ${e.entry.path} is a ${e.entry.type} device or fifo, which cannot be copied without privileges`, { hint: 'copy the files around it instead' });
      }
    }
    return { path: f.path, kind: isDir ? 'directory' as const : 'file' as const, entries: out };
  }));
}
