import { mkdirp } from '../util/fs-paths.js';
import { createReadStream, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeScratchDir, tempPathBeside, trackTemp } from '../util/temp-files.js';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Image } from '../image/image.js';
import type { Descriptor } from '../oci/schemas.js';
import { writeOciLayout } from './oci-layout.js';

/**
 * Writes an OCI image layout as a tar archive (what `docker buildx build -o type=oci,dest=x.tar`
 * writes): the layout is assembled in a temporary directory, archived with sorted entries and
 * fixed times, and renamed into place only when complete.
 */
export async function writeOciArchive(file: string, image: Image, opts: { refName?: string; imageName?: string } = {}): Promise<Descriptor> {
  return archiveLayout(file, (dir) => writeOciLayout(dir, image, opts));
}

/** Fills a scratch OCI layout with `fill`, then archives it onto `file` (atomically). */
export async function archiveLayout<T>(file: string, fill: (dir: string) => Promise<T>): Promise<T> {
  const dir = await makeScratchDir('oci-tar');
  const tmp = tempPathBeside(file);
  const untrack = [trackTemp(tmp), trackTemp(dir)];
  try {
    const desc = await fill(dir);
    await mkdirp(dirname(file));
    const out = (await fs.open(tmp, 'wx', 0o666)).createWriteStream();
    const pack = tar.pack();
    const done = pipeline(pack, out);
    done.catch(() => {}); // awaited below; a write error while files are added must not go unhandled
    const mtime = new Date(0);
    const addFile = (rel: string, size: number) => new Promise<void>((resolve, reject) => {
      const sink = pack.entry({ name: rel, size, mode: 0o644, mtime }, (err) => (err ? reject(err) : resolve()));
      createReadStream(join(dir, rel)).on('error', reject).pipe(sink);
    });
    for (const d of ['blobs/', 'blobs/sha256/']) await new Promise<void>((resolve, reject) => pack.entry({ name: d, type: 'directory', mode: 0o755, mtime }, (err) => (err ? reject(err) : resolve())));
    for (const name of (await fs.readdir(join(dir, 'blobs', 'sha256'))).sort()) {
      const rel = `blobs/sha256/${name}`;
      await addFile(rel, (await fs.stat(join(dir, rel))).size);
    }
    for (const rel of ['index.json', 'oci-layout']) await addFile(rel, (await fs.stat(join(dir, rel))).size);
    pack.finalize();
    await done;
    await fs.rename(tmp, file);
    return desc;
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
    for (const u of untrack) u();
  }
}
