import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { expect } from 'vitest';
import { imageArtifacts, type Image } from '../../src/image/image.js';
import { ImageConfigSchema, ManifestSchema } from '../../src/oci/schemas.js';
import { parseReference } from '../../src/oci/reference.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { pullImage, Remote } from '../../src/remote/registry-image.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { tempDir } from './tmp.js';
import { buildAndExport, type BuildAndExportOptions, type BuildAndExportResult } from '../../src/builder/export.js';

// Checks an image the way go-containerregistry's validate.Image does: every digest, size and
// diffID recomputed from the bytes, config and rootfs in agreement, every layer a readable
// tar whose hardlinks come after their targets. Used by the end-to-end tests.

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function hashStream(s: AsyncIterable<unknown>): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of s) { h.update(c as Buffer); size += (c as Buffer).length; }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** Fails the test unless `image` is internally consistent; returns the number of layers checked. */
export async function validateImage(image: Image): Promise<number> {
  const art = imageArtifacts(image);
  const manifest = ManifestSchema.parse(JSON.parse(art.manifestBytes.toString('utf8')));
  const config = ImageConfigSchema.parse(JSON.parse(art.configBytes.toString('utf8')));
  expect(manifest.config.digest, 'config digest').toBe(sha(art.configBytes));
  expect(manifest.config.size, 'config size').toBe(art.configBytes.length);
  expect(art.descriptor.digest, 'manifest digest').toBe(sha(art.manifestBytes));
  expect(config.rootfs.diff_ids, 'rootfs.diff_ids').toHaveLength(image.layers.length);
  expect(manifest.layers, 'manifest layers').toHaveLength(image.layers.length);
  if (config.history) expect(config.history.filter((h) => !h.empty_layer), 'history entries with layers').toHaveLength(image.layers.length);
  for (const [i, layer] of image.layers.entries()) {
    const d = layer.descriptor;
    expect(manifest.layers[i], `layer ${i} descriptor`).toMatchObject({ digest: d.digest, size: d.size });
    const blob = await hashStream(await layer.source.open(d.digest));
    expect(blob, `layer ${i} blob`).toEqual({ digest: d.digest, size: d.size });
    const gz = d.mediaType.endsWith('+gzip');
    const raw = gz ? (await layer.source.open(d.digest)).pipe(createGunzip()) : await layer.source.open(d.digest);
    const chunks: Buffer[] = [];
    for await (const c of raw) chunks.push(c as Buffer);
    const tarBytes = Buffer.concat(chunks);
    expect(sha(tarBytes), `layer ${i} diffID`).toBe(layer.diffId);
    expect(config.rootfs.diff_ids[i], `config diff_id ${i}`).toBe(layer.diffId);
    const seen = new Set<string>();
    const extract = tar.extract();
    Readable.from([tarBytes]).pipe(extract);
    for await (const e of extract) {
      const name = e.header.name.replace(/\/$/, '');
      if (e.header.type === 'link') expect(seen.has((e.header.linkname ?? '').replace(/\/$/, '')), `layer ${i}: hardlink ${name} before its target`).toBe(true);
      seen.add(name);
      e.resume();
    }
  }
  return image.layers.length;
}

/** Pulls `ref` back from a registry into a fresh cache and validates what came back. */
export async function validatePushed(ref: string, expectedDigest?: string, platform = 'linux/amd64'): Promise<void> {
  const pulled = await pullImage(new Remote(), parseReference(ref), parsePlatform(platform), new BlobStore(tempDir()));
  if (expectedDigest) expect(pulled.digest).toBe(expectedDigest);
  await validateImage(pulled.image);
}

/** `buildAndExport`, then every image it made validated. */
export async function buildChecked(opts: BuildAndExportOptions): Promise<BuildAndExportResult> {
  const r = await buildAndExport(opts);
  for (const img of r.images ?? [r.image]) await validateImage(img);
  return r;
}
