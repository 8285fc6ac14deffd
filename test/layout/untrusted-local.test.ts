import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { OcimakeError } from '../../src/errors.js';
import { openDockerArchive, openOciLayout } from '../../src/layout/local-image.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { alpineDockerArchive } from '../helpers/alpine-images.js';
import { buildFrom } from '../helpers/build.js';
import { layoutOf, rawLayer } from '../helpers/layers.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 12 (security): blobs of oci:DIR and docker-archive:FILE are verified as registry
// pulls are, and a broken stream ends in one clear error, never an unhandled rejection.

const amd64 = parsePlatform('linux/amd64');

async function drain(img: Awaited<ReturnType<typeof openOciLayout>>): Promise<void> {
  for (const l of img.image.layers) for await (const _ of await l.source.open(l.descriptor.digest)) { /* read it all */ }
}

describe('an oci: layout that was tampered with', () => {
  it('refuses a layer whose bytes no longer match its digest', async () => {
    const dir = join(tempDir(), 'layout');
    await layoutOf(dir, [await rawLayer([{ name: 'etc/motd', content: 'hello' }])]);
    const blobs = join(dir, 'blobs', 'sha256');
    // Swap the layer's bytes for another valid gzip of the same length or not: either way it must fail.
    const layer = readdirSync(blobs).find((h) => readFileSync(join(blobs, h))[0] === 0x1f)!;
    writeFileSync(join(blobs, layer), gzipSync(Buffer.alloc(1024)));
    const img = await openOciLayout(dir, '1', amd64);
    await expect(drain(img)).rejects.toThrow(/does not match its digest|longer than/);
  });

  it('refuses a config whose bytes no longer match its digest', async () => {
    const dir = join(tempDir(), 'layout');
    await layoutOf(dir, [await rawLayer([{ name: 'x', content: 'x' }])]);
    const blobs = join(dir, 'blobs', 'sha256');
    const config = readdirSync(blobs).find((h) => readFileSync(join(blobs, h), 'utf8').includes('"rootfs"'))!;
    writeFileSync(join(blobs, config), readFileSync(join(blobs, config), 'utf8').replace('amd64', 'arm64'));
    await expect(openOciLayout(dir, '1', amd64)).rejects.toThrow(/config sha256:[0-9a-f]{64} does not match/);
  });
});

describe('a docker-archive that is cut off', () => {
  it('fails with the file named, not with an unhandled rejection', async () => {
    const file = join(tempDir(), 'alpine.tar.gz');
    await alpineDockerArchive(file);
    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length >> 1));
    const err = await openDockerArchive(file, new BlobStore(tempDir())).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OcimakeError);
    expect((err as OcimakeError).message).toMatch(/^docker-archive:.*alpine\.tar\.gz: /);
    expect((err as OcimakeError).hint).toMatch(/corrupt or cut off/);
  });
});

describe('ADD of a broken local archive', () => {
  it('ends as an error with the line and a hint', async () => {
    const good = gzipSync(Buffer.concat([Buffer.from('x'.repeat(100)), Buffer.alloc(2048)]));
    const err = await buildFrom('FROM scratch\nADD broken.tar.gz /x/\n', { 'broken.tar.gz': good.subarray(0, 20) }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OcimakeError);
    expect((err as OcimakeError).message).toMatch(/^Dockerfile:2: ADD: .*broken\.tar\.gz/);
  });
});

describe('an OCI layout written by several builds at once', () => {
  it('keeps every tag (index.json is changed under a lock)', async () => {
    const { writeOciLayout } = await import('../../src/layout/oci-layout.js');
    const { memoryImage } = await import('../helpers/layers.js');
    const dir = join(tempDir(), 'shared-layout');
    const images = await Promise.all(Array.from({ length: 12 }, async (_, i) => memoryImage([await rawLayer([{ name: `f${i}`, content: `image ${i}` }])]).image));
    await Promise.all(images.map((img, i) => writeOciLayout(dir, img, { refName: `t${i}` })));
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
    const tags = index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort();
    expect(tags).toEqual(Array.from({ length: 12 }, (_, i) => `t${i}`).sort());
    for (let i = 0; i < 12; i++) expect((await openOciLayout(dir, `t${i}`, amd64)).image.layers).toHaveLength(1);
  });
});
