import { posix } from 'node:path';
import { collectIfGrown } from '../util/heap.js';
import type { MergedFs } from '../image/merged-fs.js';
import { finalizeEntries, parentsNearestFirst, type LayerEntry } from '../layer/entry.js';

/**
 * Places the entries a step plans onto the stage's filesystem, as BuildKit's copy does:
 * every parent component of every path is followed through symlinks inside the root (so on
 * a merged-/usr base `lib/x/libfoo.so` lands in `usr/lib/x/`, and the `/lib` symlink stays),
 * and a directory that lands on a symlink to a directory goes into that directory. Parents
 * that exist are written again with their own metadata; missing ones are made 0755 for
 * `owner`. Hardlink targets move with their files. Returns the layer's final entries.
 */
export async function placeEntries(fs: MergedFs, entries: readonly LayerEntry[], owner: { uid: number; gid: number }): Promise<readonly LayerEntry[]> {
  const realDir = new Map<string, string>();
  // Each directory is resolved once, from its parent's real path: O(path length) per entry.
  const dirOf = async (p: string): Promise<string> => {
    if (p === '') return '';
    let r = realDir.get(p);
    if (r === undefined) {
      const slash = p.lastIndexOf('/');
      const base = slash < 0 ? '' : await dirOf(p.slice(0, slash));
      r = await fs.realPath(p.slice(slash + 1), true, base);
      realDir.set(p, r);
    }
    return r;
  };
  // The parents finalizeEntries adds are the ones the step did not plan.
  const implicitParents = new Set<string>();
  const sorted = finalizeEntries(entries, (p) => { implicitParents.add(p); return { type: 'directory', path: p, mode: 0o755, uid: owner.uid, gid: owner.gid }; });
  // Where each path went, for hardlinks' targets (kept only when there are hardlinks).
  const moved = sorted.some((e) => e.type === 'hardlink') ? new Map<string, string>() : undefined;
  const placed: LayerEntry[] = [];
  for (const e of sorted) {
    if ((placed.length & 4095) === 4095) collectIfGrown();
    if (implicitParents.has(e.path)) continue; // written again below, with the real metadata
    const parent = posix.dirname(e.path) === '.' ? '' : posix.dirname(e.path);
    const rp = await dirOf(parent);
    let path = rp === '' ? posix.basename(e.path) : `${rp}/${posix.basename(e.path)}`;
    if (e.type === 'directory') {
      path = await dirOf(e.path);
    }
    if (path === '') continue; // the root itself is never an entry
    moved?.set(e.path, path);
    // Entries are values: one that stays where it is, and is not a hardlink (whose target may move), is not copied.
    placed.push(path === e.path && e.type !== 'hardlink' ? e : ({ ...e, path } as LayerEntry));
  }
  if (moved) for (const e of placed) if (e.type === 'hardlink') e.linkname = moved.get(e.linkname) ?? e.linkname;
  // Parents of everything placed: existing ones keep their metadata, as in an overlay diff.
  const parents = new Map<string, LayerEntry>();
  for (const e of placed) {
    // Nearest parent first: one already known has all of its own (a deep tree stays linear).
    for (const p of parentsNearestFirst(e.path)) {
      if (parents.has(p)) break;
      // p is a parent of a real path: looked up directly, not walked from the root (a deep tree stays linear).
      const st = await fs.statReal(p);
      parents.set(p, st?.type === 'directory'
        ? { type: 'directory', path: p, mode: st.mode, uid: st.uid, gid: st.gid }
        : { type: 'directory', path: p, mode: 0o755, uid: owner.uid, gid: owner.gid });
    }
  }
  return finalizeEntries(placed, (p) => parents.get(p) ?? { type: 'directory', path: p, mode: 0o755, uid: owner.uid, gid: owner.gid });
}
