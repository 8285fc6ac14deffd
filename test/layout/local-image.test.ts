import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { BlobStore } from '../../src/store/blob-store.js';
import { openDockerArchive, openOciLayout } from '../../src/layout/local-image.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { alpineDockerArchive, alpineLayout } from '../helpers/alpine-images.js';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';

describe('local image sources on real alpine images', () => {
  const work = tempDir();
  const layout = alpineLayout(join(work, 'layout')).dir;

  it('opens the 2-platform OCI layout and picks the platform from its Docker manifest list', async () => {
    const amd = await openOciLayout(layout, undefined, parsePlatform('linux/amd64'));
    const arm = await openOciLayout(layout, undefined, parsePlatform('linux/arm64'));
    expect(amd.image.config.architecture).toBe('amd64');
    expect(arm.image.config.architecture).toBe('arm64');
    expect(arm.image.config.variant).toBe('v8');
    expect(amd.digest).not.toBe(arm.digest);
    // Docker media types become OCI ones; the bytes (and digests) are the same.
    expect(amd.image.layers[0]?.descriptor.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
  });

  it('says which platforms exist when the wanted one does not', async () => {
    await expect(openOciLayout(layout, undefined, parsePlatform('linux/riscv64'))).rejects.toThrow(/no image for linux\/riscv64/);
  });

  it('imports a gzipped docker save archive, hashing every blob', async () => {
    const store = new BlobStore(tempDir());
    const file = join(work, 'alpine.docker-archive.tar.gz');
    const { diffId } = await alpineDockerArchive(file);
    const img = await openDockerArchive(file, store);
    expect(img.image.layers[0]?.diffId).toBe(diffId);
    expect(img.image.config.os).toBe('linux');
    expect(img.image.layers).toHaveLength(1);
    const layer = img.image.layers[0]!;
    const blob = readFileSync(store.path(layer.descriptor.digest));
    // docker save stores layers uncompressed: the blob digest is the diffID.
    expect(`sha256:${createHash('sha256').update(blob).digest('hex')}`).toBe(layer.diffId);
    expect(layer.descriptor.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
  });
});
