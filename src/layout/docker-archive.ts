import { mkdirp } from '../util/fs-paths.js';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeScratchDir, tempPathBeside, trackTemp } from '../util/temp-files.js';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { imageArtifacts, type Image } from '../image/image.js';
import { digestHex } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { familiarName } from '../oci/familiar.js';
import type { Reference } from '../oci/reference.js';

/**
 * Writes a `docker save`-style archive that `docker load` and `skopeo docker-archive:`
 * accept: manifest.json, the config, and each layer uncompressed under its diffID (as
 * `docker save` stores them). The archive is written to a temporary file beside `file`
 * and renamed into place when complete.
 */
export async function writeDockerArchive(file: string, image: Image, tags: readonly Reference[]): Promise<void> {
  const art = imageArtifacts(image);
  const tmp = tempPathBeside(file);
  await mkdirp(dirname(file));
  const untrack = [trackTemp(tmp)];
  // Opened before anything else is done, so a destination that cannot be written fails here.
  const out = (await fs.open(tmp, 'wx', 0o666)).createWriteStream();
  const pack = tar.pack();
  const done = pipeline(pack, out);
  done.catch(() => {}); // awaited below; a write error while the layers are read must not go unhandled
  let scratch: string | undefined;
  try {
    scratch = await makeScratchDir('archive');
    untrack.push(trackTemp(scratch));
    const mtime = new Date(0);
    const configPath = `blobs/sha256/${digestHex(art.config.digest)}`;
    await addBuffer(pack, configPath, art.configBytes, mtime);
    const layerPaths: string[] = [];
    for (const layer of image.layers) {
      const path = `blobs/sha256/${digestHex(layer.diffId)}`;
      if (layerPaths.includes(path)) { layerPaths.push(path); continue; }
      const raw = join(scratch, digestHex(layer.diffId));
      const src = await layer.source.open(layer.descriptor.digest);
      const compressed = layer.descriptor.mediaType !== MediaType.OciLayer;
      if (compressed) await pipeline(src, createGunzip(), createWriteStream(raw));
      else await pipeline(src, createWriteStream(raw));
      const { size } = await fs.stat(raw);
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ name: path, size, mode: 0o644, mtime }, (err) => (err ? reject(err) : resolve()));
        createReadStream(raw).on('error', reject).pipe(sink);
      });
      await fs.rm(raw);
      layerPaths.push(path);
    }
    const manifest = [{ Config: configPath, RepoTags: tags.filter((t) => t.tag).map(familiarName), Layers: layerPaths }];
    await addBuffer(pack, 'manifest.json', Buffer.from(JSON.stringify(manifest)), mtime);
    pack.finalize();
    await done;
    await fs.rename(tmp, file);
  } catch (err) {
    pack.destroy();
    await fs.rm(tmp, { force: true });
    throw err;
  } finally {
    if (scratch) await fs.rm(scratch, { recursive: true, force: true });
    for (const u of untrack) u();
  }
}

function addBuffer(pack: tar.Pack, name: string, data: Buffer, mtime: Date): Promise<void> {
  return new Promise((resolve, reject) => pack.entry({ name, mode: 0o644, mtime }, data, (err) => (err ? reject(err) : resolve())));
}
