import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { imageArtifacts, type Image } from '../image/image.js';
import { BlobStore } from '../store/blob-store.js';
import { withIndexLock, writeFileAtomic, writeOciLayout } from '../layout/oci-layout.js';
import { canonicalBytes } from '../oci/canonical-json.js';
import { sha256, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { IndexSchema, type Descriptor, type Index } from '../oci/schemas.js';
import { pushBlob, pushImage, putManifest, type PushOptions } from '../remote/push.js';
import { Readable } from 'node:stream';
import type { IndexAttestation } from '../attest/in-index.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { Remote } from '../remote/registry-image.js';
import { withContext } from '../errors.js';

/** An OCI image index over per-platform images, serialised with canonical JSON. */
export interface IndexArtifacts { bytes: Buffer; digest: Digest; descriptor: Descriptor; index: Index }

/** Annotations of the index itself, and of each image's descriptor in it (--annotation index:, manifest-descriptor:). */
export interface IndexExtras {
  annotations?: Record<string, string>;
  descriptorAnnotations?: readonly (Record<string, string> | undefined)[];
  /** Unsigned attestation manifests (buildx's), listed after the images. */
  attestations?: readonly IndexAttestation[];
}

/** Builds the index of a multi-platform build: one manifest descriptor per image, with its platform. */
export function indexArtifacts(images: readonly Image[], extras: IndexExtras = {}): IndexArtifacts {
  const manifests: Descriptor[] = images.map((img, i) => {
    const c = img.config;
    const a = extras.descriptorAnnotations?.[i];
    return { ...imageArtifacts(img).descriptor, platform: { os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) }, ...(a && Object.keys(a).length ? { annotations: a } : {}) };
  });
  for (const a of extras.attestations ?? []) manifests.push(a.descriptor);
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
  if (extras.annotations && Object.keys(extras.annotations).length) index.annotations = extras.annotations;
  const bytes = canonicalBytes(index);
  const digest = sha256(bytes);
  return { bytes, digest, descriptor: { mediaType: MediaType.OciIndex, digest, size: bytes.length }, index };
}

/**
 * Pushes every platform's image by digest, then the index under each tag, so a tag only
 * ever names an index whose manifests and blobs are all in place.
 */
export async function pushIndex(images: readonly Image[], refs: readonly Reference[], opts: PushOptions, extras: IndexExtras = {}): Promise<IndexArtifacts> {
  const art = indexArtifacts(images, extras);
  const repos = new Map<string, Reference>();
  for (const r of refs) repos.set(`${r.registry}/${r.repository}`, { registry: r.registry, repository: r.repository });
  const shared: PushOptions = { ...opts, remote: opts.remote ?? new Remote(opts) };
  for (const img of images) await pushImage(img, [...repos.values()], shared);
  for (const r of repos.values()) {
    for (const a of extras.attestations ?? []) {
      const client = shared.remote!.client(r.registry);
      for (const b of a.blobs) await pushBlob(client, r.repository, b.descriptor, () => Readable.from([b.bytes]), shared);
      await putManifest(client, r.repository, a.descriptor.digest, a.bytes, a.descriptor.mediaType);
    }
  }
  for (const r of refs) {
    try {
      await putManifest(shared.remote!.client(r.registry), r.repository, r.tag ?? art.digest, art.bytes, MediaType.OciIndex);
      opts.onEvent?.({ kind: 'manifest', ref: formatReference({ registry: r.registry, repository: r.repository, ...(r.tag ? { tag: r.tag } : {}) }), digest: art.digest });
    } catch (err) {
      throw withContext(`pushing the index to ${formatReference(r)}`, err);
    }
  }
  return art;
}

/** Writes a multi-platform build into an OCI layout: every image, then the index, named by `refName`. */
export async function writeOciLayoutIndex(dir: string, images: readonly Image[], refName?: string, extras: IndexExtras = {}): Promise<IndexArtifacts> {
  const art = indexArtifacts(images, extras);
  // Each image's blobs and manifest go in first; their own index.json entries are dropped below.
  for (const img of images) await writeOciLayout(dir, img);
  const layout = new BlobStore(dir);
  for (const a of extras.attestations ?? []) {
    for (const b of a.blobs) await layout.putBytes(b.bytes, b.descriptor);
    await layout.putBytes(a.bytes, a.descriptor);
  }
  await layout.putBytes(art.bytes, art.descriptor);
  await withIndexLock(dir, async () => {
    const existing = IndexSchema.parse(JSON.parse(await fs.readFile(join(dir, 'index.json'), 'utf8')));
    const platformDigests = new Set(art.index.manifests.map((m) => m.digest));
    // The per-platform entries writeOciLayout added without a name go; named ones stay.
    const kept = existing.manifests.filter((m) => !(platformDigests.has(m.digest) && !m.annotations?.['org.opencontainers.image.ref.name']) && (refName === undefined || m.annotations?.['org.opencontainers.image.ref.name'] !== refName));
    const entry: Descriptor = { ...art.descriptor, ...(refName ? { annotations: { 'org.opencontainers.image.ref.name': refName } } : {}) };
    await writeFileAtomic(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...kept, entry] }));
  });
  return art;
}
