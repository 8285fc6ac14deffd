import { statSync } from 'node:fs';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../../layer/whiteout.js';
import { finalizeEntries, type LayerEntry } from '../../layer/entry.js';
import type { MergedEntry } from '../../image/merged-fs.js';
import { baseOf, parentOf, type Inode, type RunFs } from './run-fs.js';

/**
 * Turns what a RUN changed into the entries of one layer, as an overlay diff does: changed
 * and new paths with their metadata, their parent directories as they now are, a whiteout
 * for each removed path the layers below have, and an opaque marker for a directory removed
 * and made again. Files whose bytes are still in a lower layer are read once, per layer.
 */
export async function changesOf(rfs: RunFs): Promise<readonly LayerEntry[]> {
  const out: LayerEntry[] = [];
  const inodes = new Map<Inode, string>();
  const fromLower: { ino: Inode; entry: LayerEntry & { type: 'file' } }[] = [];
  const paths = [...rfs.overlay.keys()].filter((p) => p !== '' && !rfs.excluded.some((x) => p === x || p.startsWith(`${x}/`))).sort();
  for (const path of paths) {
    const node = rfs.overlay.get(path);
    if (node === undefined) continue;
    if (node === null) {
      if (await rfs.lowerHas(path)) out.push(whiteout(`${joinDir(parentOf(path))}${WHITEOUT_PREFIX}${baseOf(path)}`));
      continue;
    }
    switch (node.type) {
      case 'directory':
        out.push({ type: 'directory', path, ...node.meta });
        if (node.opaque) out.push(whiteout(`${path}/${OPAQUE_WHITEOUT}`));
        break;
      case 'symlink':
        out.push({ type: 'symlink', path, ...node.meta, linkname: node.target });
        break;
      case 'file': {
        const first = inodes.get(node.ino);
        if (first !== undefined) { out.push({ type: 'hardlink', path, ...node.ino.meta, linkname: first }); break; }
        inodes.set(node.ino, path);
        const { data, spill } = node.ino;
        const entry: LayerEntry & { type: 'file' } = data
          ? { type: 'file', path, ...node.ino.meta, size: data.length, source: { kind: 'bytes', data } }
          : spill
            ? { type: 'file', path, ...node.ino.meta, size: spill.size, source: { kind: 'path', path: spill.path } }
            : { type: 'file', path, ...node.ino.meta, size: node.ino.lower!.entry.size, source: { kind: 'bytes', data: Buffer.alloc(0) } };
        if (!data && !spill) fromLower.push({ ino: node.ino, entry });
        out.push(entry);
        break;
      }
      case 'other':
        break; // devices and FIFOs are never made or changed by RUN
    }
  }
  await fillFromLower(rfs, fromLower);
  // Parents of everything written, with their metadata as the RUN leaves them.
  const parents = new Map<string, LayerEntry>();
  for (const e of out) {
    for (let p = parentOf(e.path); p !== ''; p = parentOf(p)) {
      if (parents.has(p)) break;
      const n = await rfs.at(p);
      const meta = n && n.type !== 'file' ? n.meta : { mode: 0o755, uid: 0, gid: 0 };
      parents.set(p, { type: 'directory', path: p, ...meta });
    }
  }
  return finalizeEntries(out, (p) => parents.get(p) ?? { type: 'directory', path: p, mode: 0o755, uid: 0, gid: 0 });
}

const joinDir = (d: string) => (d === '' ? '' : `${d}/`);

function whiteout(path: string): LayerEntry {
  return { type: 'file', path, mode: 0, uid: 0, gid: 0, size: 0, source: { kind: 'bytes', data: Buffer.alloc(0) } };
}

/** Reads the bytes of files copied or re-moded from lower layers, one pass per layer. */
async function fillFromLower(rfs: RunFs, list: { ino: Inode; entry: LayerEntry & { type: 'file' } }[]): Promise<void> {
  if (list.length === 0) return;
  const lowers: MergedEntry[] = list.map((x) => x.ino.lower!);
  const files = await rfs.lower.spool(lowers, rfs.scratch);
  for (const { ino, entry } of list) {
    const m = ino.lower!;
    const key = m.entry.type === 'hardlink' && m.linkTarget ? `${m.linkTarget.layer}:${m.linkTarget.entry.path}` : `${m.layer}:${m.entry.path}`;
    const tmp = files.get(key);
    if (tmp === undefined) {
      const data = await rfs.bytes({ type: 'file', ino });
      entry.size = data.length;
      entry.source = { kind: 'bytes', data };
    } else {
      entry.source = { kind: 'path', path: tmp };
      entry.size = statSync(tmp).size;
    }
  }
}
