import { mkdirp } from '../util/fs-paths.js';
import { createWriteStream, promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { OcimakeError } from '../errors.js';
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
  try {
    const copied = await copyOut(mfs, paths, scratch, what);
    for (const c of copied) {
      const base = normalizeEntryPath(c.path);
      for (const { rel, entry } of c.entries) {
        // Both parts are normal already (rel is a merged-view path below the source, which the
        // layer reader checked): joined, not normalised again (a deep tree's paths are long).
        const inImage = rel === '' ? base : base === '' ? rel : `${base}/${rel}`;
        const linkTo = entry.type === 'hardlink' ? normalizeEntryPath(`${base}/${entry.linkname}`) : undefined;
        await out.write(inImage, entry, linkTo);
      }
    }
    await out.finish();
  } finally {
    out.close();
  }
  return { files: out.files };
}

/**
 * The local exporter (`-o DIR`): the image's whole merged filesystem, written into a
 * directory beside `dest` and renamed onto it when complete. `dest` must be missing or
 * empty: merging into old contents would leave files the image does not have.
 */
export async function writeRootfs(dest: string, image: Image): Promise<{ files: number }> {
  await checkEmptyDestination(dest);
  const scratch = await makeScratchDir('rootfs');
  const untrack = trackTemp(scratch);
  const staging = tempPathBeside(dest);
  const untrackStaging = trackTemp(staging);
  try {
    await mkdirp(dirname(staging));
    await fs.mkdir(staging);
    const r = image.layers.length === 0 ? { files: 0 } : await extractPaths(new MergedFs(image, 'the image'), ['/'], staging, scratch, 'the image');
    await fs.rmdir(dest).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
    await fs.rename(staging, dest);
    return r;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
    untrackStaging();
    await fs.rm(scratch, { recursive: true, force: true });
    untrack();
  }
}

export async function checkEmptyDestination(dest: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new OcimakeError('OUTPUT_INVALID', `-o type=local,dest=${dest}: ${dest} is a file, not a directory`, { hint: 'give a new or empty directory' });
    throw err;
  }
  if (names.length > 0) {
    throw new OcimakeError('OUTPUT_INVALID', `-o type=local,dest=${dest}: ${dest} is not empty (${names.length} entr${names.length === 1 ? 'y' : 'ies'}, e.g. ${names.sort()[0]})`, {
      hint: `ocimake writes a root filesystem only into a new or empty directory, so no file from before is mistaken for part of the image; remove it first (rm -rf ${dest}) or choose another directory`,
    });
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
