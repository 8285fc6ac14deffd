import { createWriteStream, promises as fs } from 'node:fs';
import { makeScratchDir, tempPathBeside, trackTemp } from '../util/temp-files.js';
import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';
import { defaultMtime, writeTarStream } from '../layer/tar-writer.js';
import { TreeWriter } from './tree-writer.js';
import { copyOut } from '../image/copy-out.js';
import { MergedFs } from '../image/merged-fs.js';
import type { Image } from '../image/image.js';

/**
 * `ocimake extract`: writes `paths` of an image under `dest`, each at its full in-image path
 * (dest/usr/local/bin/etcd), keeping modes, symlinks and hardlinks. Nothing is ever written
 * outside `dest` (see TreeWriter).
 */
export async function extractPaths(mfs: MergedFs, paths: readonly string[], dest: string, scratch: string, what: string): Promise<{ files: number }> {
  const out = await TreeWriter.open(dest);
  const copied = await copyOut(mfs, paths, scratch, what);
  for (const c of copied) {
    const base = normalizeEntryPath(c.path);
    for (const { rel, entry } of c.entries) {
      const inImage = normalizeEntryPath(rel === '' ? base : `${base}/${rel}`);
      const linkTo = entry.type === 'hardlink' ? normalizeEntryPath(`${base}/${entry.linkname}`) : undefined;
      await out.write(inImage, entry, linkTo);
    }
  }
  await out.finish();
  return { files: out.files };
}

/** The local exporter (`-o DIR`): the image's whole merged filesystem written under `dest`. */
export async function writeRootfs(dest: string, image: Image): Promise<{ files: number }> {
  const scratch = await makeScratchDir('rootfs');
  const untrack = trackTemp(scratch);
  try {
    if (image.layers.length === 0) { await fs.mkdir(dest, { recursive: true }); return { files: 0 }; }
    return await extractPaths(new MergedFs(image, 'the image'), ['/'], dest, scratch, 'the image');
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
    untrack();
  }
}

/** The tar exporter (`-o type=tar,dest=FILE`): the image's merged filesystem as one tar archive, written atomically. */
export async function writeRootfsTar(file: string, image: Image): Promise<void> {
  const scratch = await makeScratchDir('rootfs');
  const untrack = trackTemp(scratch);
  const tmp = tempPathBeside(file);
  const untrackTmp = trackTemp(tmp);
  try {
    const entries: LayerEntry[] = [];
    if (image.layers.length > 0) {
      for (const c of await copyOut(new MergedFs(image, 'the image'), ['/'], scratch, 'the image')) {
        for (const { rel, entry } of c.entries) {
          if (rel === '') continue;
          const path = normalizeEntryPath(rel);
          entries.push(entry.type === 'hardlink' ? { ...entry, path, linkname: normalizeEntryPath(entry.linkname) } : { ...entry, path } as LayerEntry);
        }
      }
    }
    await writeTarStream(entries, createWriteStream(tmp), { mtime: defaultMtime() });
    await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
    untrackTmp();
    await fs.rm(scratch, { recursive: true, force: true });
    untrack();
  }
}
