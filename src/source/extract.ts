import { createReadStream, promises as fs, constants } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { OcimakeError } from '../errors.js';
import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';
import { copyOut } from '../image/copy-out.js';
import { MergedFs } from '../image/merged-fs.js';
import type { Image } from '../image/image.js';

/**
 * `ocimake extract`: writes `paths` of an image under `dest`, each at its full in-image path
 * (dest/usr/local/bin/etcd), keeping modes and symlinks. Nothing is ever written outside
 * `dest`: parents are created without following symlinks, files are opened with O_EXCL and
 * O_NOFOLLOW, and a path whose parent is a symlink is refused.
 */
export async function extractPaths(mfs: MergedFs, paths: readonly string[], dest: string, scratch: string, what: string): Promise<{ files: number }> {
  await fs.mkdir(dest, { recursive: true });
  const copied = await copyOut(mfs, paths, scratch, what);
  let files = 0;
  for (const c of copied) {
    const base = normalizeEntryPath(c.path);
    for (const { rel, entry } of c.entries) {
      const inImage = rel === '' ? base : `${base}/${rel}`;
      await writeEntry(dest, normalizeEntryPath(inImage), entry, base);
      if (entry.type === 'file' || entry.type === 'hardlink') files++;
    }
  }
  return { files };
}

async function safeParent(dest: string, rel: string): Promise<string> {
  const segs = rel.split('/').slice(0, -1);
  let cur = dest;
  for (const s of segs) {
    cur = join(cur, s);
    const st = await fs.lstat(cur).catch(() => undefined);
    if (!st) { await fs.mkdir(cur, { mode: 0o755 }); continue; }
    if (st.isSymbolicLink() || !st.isDirectory()) {
      throw new OcimakeError('LAYER_UNSAFE', `refusing to write ${rel}: ${cur.slice(dest.length + 1)} is not a real directory`, { hint: 'the image writes through a symlink; it is refused so nothing lands outside the output' });
    }
  }
  return join(dest, rel);
}

async function writeEntry(dest: string, rel: string, e: LayerEntry, base: string): Promise<void> {
  if (rel === '') return;
  const target = await safeParent(dest, rel);
  const existing = await fs.lstat(target).catch(() => undefined);
  if (existing && !(existing.isDirectory() && e.type === 'directory')) await fs.rm(target, { recursive: true, force: true });
  switch (e.type) {
    case 'directory':
      if (!existing?.isDirectory()) await fs.mkdir(target, { mode: e.mode & 0o7777 });
      await fs.chmod(target, e.mode & 0o7777);
      return;
    case 'symlink':
      await fs.symlink(e.linkname, target);
      return;
    case 'hardlink': {
      const from = join(dest, normalizeEntryPath(`${base}/${e.linkname}`));
      await fs.link(from, target);
      return;
    }
    case 'file': {
      const src = e.source.kind === 'path' ? createReadStream(e.source.path) : null;
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
      const fh = await fs.open(target, flags, e.mode & 0o7777);
      const out = fh.createWriteStream();
      if (src) await pipeline(src, out);
      else await new Promise<void>((res, rej) => out.end(e.source.kind === 'bytes' ? e.source.data : undefined, () => res()).once('error', rej));
      await fs.chmod(target, e.mode & 0o7777);
      return;
    }
  }
}

/** The local exporter (`-o DIR`): the image's whole merged filesystem written under `dest`. */
export async function writeRootfs(dest: string, image: Image): Promise<{ files: number }> {
  const scratch = await fs.mkdtemp(join(tmpdir(), 'ocimake-rootfs-'));
  try {
    if (image.layers.length === 0) { await fs.mkdir(dest, { recursive: true }); return { files: 0 }; }
    return await extractPaths(new MergedFs(image, 'the image'), ['/'], dest, scratch, 'the image');
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
