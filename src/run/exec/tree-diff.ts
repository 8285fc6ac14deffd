import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { finalizeEntries, type LayerEntry } from '../../layer/entry.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../../layer/whiteout.js';

// What an executed RUN changed in the stage's tree on disk, as one layer (kaniko's snapshotter,
// buildah's diff): the tree is walked before and after the command; a path is in the layer when
// it is new, or its type, mode, owner, size, mtime, ctime or inode moved (ctime is set by the
// kernel on every change and cannot be set back, so no edit is missed); a path that is gone gets
// a whiteout (only the topmost of a removed subtree); a directory that replaced a non-directory,
// or was removed and made again, is marked opaque. Times are not kept: the layer writer fixes
// them, so an executed RUN that writes the same files gives the same digest.

/** One path of the tree, as lstat saw it. */
export interface Snap {
  type: 'file' | 'directory' | 'symlink' | 'other';
  mode: number; uid: number; gid: number; size: number;
  mtime: bigint; ctime: bigint; ino: bigint; dev: bigint; nlink: number;
}

/** Paths (relative, `/`-separated) of a tree with what lstat says of each; `skip` leaves top-level names out (proc, dev, sys). */
export function snapshot(root: string, skip: ReadonlySet<string>): Map<string, Snap> {
  const out = new Map<string, Snap>();
  const walk = (rel: string) => {
    let names: string[];
    try { names = readdirSync(rel === '' ? root : join(root, rel)); } catch { return; }
    for (const name of names.sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (rel === '' && skip.has(name)) continue;
      const st = lstatSync(join(root, path), { bigint: true });
      const s = snapOf(st);
      out.set(path, s);
      if (s.type === 'directory') walk(path);
    }
  };
  walk('');
  return out;
}

function snapOf(st: BigIntStats): Snap {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), mtime: st.mtimeNs, ctime: st.ctimeNs, ino: st.ino, dev: st.dev, nlink: Number(st.nlink) };
}

function changed(b: Snap, a: Snap): boolean {
  if (b.type !== a.type || b.mode !== a.mode || b.uid !== a.uid || b.gid !== a.gid || b.ino !== a.ino) return true;
  // A directory's times move whenever a child is added or removed; the children say that themselves.
  if (a.type === 'directory') return false;
  return b.size !== a.size || b.mtime !== a.mtime || b.ctime !== a.ctime;
}

/** How owners on disk become owners in the layer. */
export interface Owners {
  /** The owner the image gave a path (the side table, for trees written by a user who cannot chown). */
  intended(path: string): { uid: number; gid: number } | undefined;
  /** An id on disk as the RUN saw it (rootless: the caller is root inside). */
  uid(id: number): number;
  gid(id: number): number;
}

/** The layer of what changed between two snapshots of `root`. */
export function treeChanges(root: string, before: ReadonlyMap<string, Snap>, after: ReadonlyMap<string, Snap>, owners: Owners): readonly LayerEntry[] {
  const out: LayerEntry[] = [];
  const ownerOf = (path: string, b: Snap | undefined, a: Snap) => {
    const kept = b !== undefined && b.uid === a.uid && b.gid === a.gid ? owners.intended(path) : undefined;
    return kept ?? { uid: owners.uid(a.uid), gid: owners.gid(a.gid) };
  };
  const entryOf = (path: string, b: Snap | undefined, a: Snap): LayerEntry | undefined => {
    const meta = { mode: a.mode, ...ownerOf(path, b, a) };
    switch (a.type) {
      case 'directory': return { type: 'directory', path, ...meta };
      case 'symlink': return { type: 'symlink', path, ...meta, linkname: readlinkSync(join(root, path)) };
      case 'file': return { type: 'file', path, ...meta, size: a.size, source: { kind: 'path', path: join(root, path) } };
      default: return undefined; // devices, fifos and sockets a RUN makes are not kept (as kaniko)
    }
  };
  const firstOfInode = new Map<string, string>();
  const emitted = new Set<string>();
  for (const [path, a] of after) {
    const b = before.get(path);
    if (b !== undefined && !changed(b, a)) continue;
    let e = entryOf(path, b, a);
    if (!e) continue;
    if (e.type === 'file' && a.nlink > 1) {
      const id = `${a.dev}:${a.ino}`;
      const first = firstOfInode.get(id);
      if (first !== undefined) e = { type: 'hardlink', path, mode: e.mode, uid: e.uid, gid: e.gid, linkname: first };
      else firstOfInode.set(id, path);
    }
    out.push(e);
    emitted.add(path);
    // A directory where the layers below have something else, or one removed and made again.
    if (a.type === 'directory' && b !== undefined && (b.type !== 'directory' || b.ino !== a.ino)) out.push(whiteout(`${path}/${OPAQUE_WHITEOUT}`));
  }
  for (const path of before.keys()) {
    if (after.has(path)) continue;
    const parent = parentOf(path);
    // Only the topmost of a removed subtree, and nothing under a path that is not a directory now.
    if (parent !== '' && (!after.has(parent) || after.get(parent)!.type !== 'directory' || before.get(parent)!.ino !== after.get(parent)!.ino)) continue;
    out.push(whiteout(`${parent === '' ? '' : `${parent}/`}${WHITEOUT_PREFIX}${baseOf(path)}`));
  }
  return finalizeEntries(out, (p) => {
    const a = after.get(p);
    return a ? { type: 'directory', path: p, mode: a.mode, ...ownerOf(p, before.get(p), a) } : { type: 'directory', path: p, mode: 0o755, uid: 0, gid: 0 };
  });
}

function whiteout(path: string): LayerEntry {
  return { type: 'file', path, mode: 0, uid: 0, gid: 0, size: 0, source: { kind: 'bytes', data: Buffer.alloc(0) } };
}

const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
const baseOf = (p: string) => p.slice(p.lastIndexOf('/') + 1);
