import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';

// Test images made at test time from the two real Alpine 3.20.3 minirootfs tarballs in
// fixtures/rootfs, the way the official alpine image is made (one layer: the minirootfs
// tarball as it is). This keeps the repository lean (7 MB instead of 18 MB of pre-made blobs)
// while the bytes inside every layer stay real.

export const FIXTURES = fileURLToPath(new URL('../../fixtures', import.meta.url));

/** A fixture file under fixtures/; fails with a clear message when the clone lacks it. */
export function fixture(rel: string): string {
  const p = join(FIXTURES, rel);
  if (!existsSync(p)) throw new Error(`missing fixture ${p}: fixtures/ is part of the repository (see fixtures/README.md); is the clone complete?`);
  return p;
}

export const MINIROOTFS = {
  amd64: fixture('rootfs/alpine-minirootfs-3.20.3-x86_64.tar.gz'),
  arm64: fixture('rootfs/alpine-minirootfs-3.20.3-aarch64.tar.gz'),
} as const;

type Arch = keyof typeof MINIROOTFS;

const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

interface Blob { hex: string; bytes: Buffer }
const blob = (bytes: Buffer | string): Blob => {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return { hex: sha256(b), bytes: b };
};

/** The config, gzipped layer and manifest of the alpine image for one architecture (Docker media types, as Docker Hub serves it). */
export function alpineImage(arch: Arch): { config: Blob; layer: Blob; diffId: string; manifest: Blob } {
  const gz = readFileSync(MINIROOTFS[arch]);
  const diffId = `sha256:${sha256(gunzipSync(gz))}`;
  const layer = blob(gz);
  const config = blob(JSON.stringify({
    architecture: arch,
    ...(arch === 'arm64' ? { variant: 'v8' } : {}),
    os: 'linux',
    created: '2024-09-06T22:20:07Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [
      { created: '2024-09-06T22:20:07Z', created_by: `/bin/sh -c #(nop) ADD file:alpine-minirootfs-3.20.3 in / ` },
      { created: '2024-09-06T22:20:07Z', created_by: '/bin/sh -c #(nop)  CMD ["/bin/sh"]', empty_layer: true },
    ],
  }));
  const manifest = blob(JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: DOCKER_CONFIG, size: config.bytes.length, digest: `sha256:${config.hex}` },
    layers: [{ mediaType: DOCKER_LAYER, size: layer.bytes.length, digest: `sha256:${layer.hex}` }],
  }, null, 3));
  return { config, layer, diffId, manifest };
}

/** What `alpineLayout` wrote. */
export interface AlpineLayout {
  dir: string;
  /** The digest of the Docker manifest list that index.json names. */
  listDigest: string;
  manifests: Record<Arch, { digest: string; layerDigest: string }>;
  /** Every blob's hex digest. */
  blobs: string[];
}

/**
 * Writes an OCI image layout holding a Docker manifest list of alpine 3.20.3 for linux/amd64
 * and linux/arm64/v8 (as `skopeo copy --all docker://alpine oci:DIR` stores Docker Hub's),
 * tagged `3`.
 */
export function alpineLayout(dir: string): AlpineLayout {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const all: Blob[] = [];
  const manifests = {} as AlpineLayout['manifests'];
  const entries: object[] = [];
  for (const arch of ['amd64', 'arm64'] as const) {
    const img = alpineImage(arch);
    all.push(img.config, img.layer, img.manifest);
    manifests[arch] = { digest: `sha256:${img.manifest.hex}`, layerDigest: `sha256:${img.layer.hex}` };
    entries.push({
      mediaType: DOCKER_MANIFEST, size: img.manifest.bytes.length, digest: `sha256:${img.manifest.hex}`,
      platform: { architecture: arch, os: 'linux', ...(arch === 'arm64' ? { variant: 'v8' } : {}) },
    });
  }
  const list = blob(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: entries }, null, 3));
  all.push(list);
  for (const b of all) writeFileSync(join(dir, 'blobs', 'sha256', b.hex), b.bytes);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const tagged = (tag: string) => ({ mediaType: DOCKER_LIST, size: list.bytes.length, digest: `sha256:${list.hex}`, annotations: { 'org.opencontainers.image.ref.name': tag } });
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [tagged('3')] }));
  return { dir, listDigest: `sha256:${list.hex}`, manifests, blobs: all.map((b) => b.hex) };
}

/**
 * Writes a gzipped `docker save` archive of alpine (amd64) in the layout Docker wrote up to
 * version 24: `<id>/layer.tar` uncompressed with `<id>/json` and `<id>/VERSION` beside it,
 * `<config-hex>.json`, `manifest.json` and `repositories`. Returns the layer's diffID.
 */
export async function alpineDockerArchive(file: string, tag = 'alpine:3.20'): Promise<{ diffId: string }> {
  const gz = readFileSync(MINIROOTFS.amd64);
  const layerTar = gunzipSync(gz);
  const img = alpineImage('amd64');
  const layerId = sha256(`${img.diffId}\n`);
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => { pack.on('end', resolve); pack.on('error', reject); });
  const add = (name: string, body?: Buffer | string) =>
    body === undefined
      ? pack.entry({ name, type: 'directory', mode: 0o755, mtime: new Date(0) })
      : pack.entry({ name, mode: 0o644, mtime: new Date(0) }, Buffer.isBuffer(body) ? body : Buffer.from(body));
  add(`${layerId}/`);
  add(`${layerId}/VERSION`, '1.0');
  add(`${layerId}/json`, JSON.stringify({ id: layerId, created: '2024-09-06T22:20:07Z', os: 'linux' }));
  add(`${layerId}/layer.tar`, layerTar);
  add(`${img.config.hex}.json`, img.config.bytes);
  const [repo, version] = tag.split(':') as [string, string];
  add('manifest.json', JSON.stringify([{ Config: `${img.config.hex}.json`, RepoTags: [tag], Layers: [`${layerId}/layer.tar`] }]));
  add('repositories', JSON.stringify({ [repo]: { [version]: layerId } }));
  pack.finalize();
  await done;
  writeFileSync(file, gzipSync(Buffer.concat(chunks)));
  return { diffId: img.diffId };
}

/** Copies the amd64 minirootfs into `dir` under `name` (for ADD in a build context). */
export function copyMinirootfs(dir: string, name = 'alpine-minirootfs.tar.gz', arch: Arch = 'amd64'): string {
  copyFileSync(MINIROOTFS[arch], join(dir, name));
  return join(dir, name);
}
