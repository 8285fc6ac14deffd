import { createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from './errors.js';
import type { RegistryStore } from './store.js';

interface Doc { manifests?: { digest: string }[]; config?: { digest: string }; layers?: { digest: string; urls?: string[] }[]; subject?: unknown }

/**
 * Exports one repository as an OCI image layout: every tagged manifest (and index, with
 * its children) with all the blobs it names, `index.json` listing the tags as
 * `org.opencontainers.image.ref.name`. The result is what `skopeo copy oci:DIR:TAG` reads.
 */
export async function exportLayout(store: RegistryStore, repo: string, dir: string): Promise<{ tags: number; blobs: number }> {
  const tags = await store.tags(repo);
  if (tags.length === 0) throw new RegistryError('NAME_UNKNOWN', `repository ${repo} has no tags`);
  await fs.mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const written = new Set<string>();
  const copyBlob = async (digest: string) => {
    if (written.has(digest)) return;
    const src = await store.openBlob(digest);
    if (!src) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is missing from storage`);
    await pipeline(src, createWriteStream(join(dir, 'blobs', ...digest.split(':'))));
    written.add(digest);
  };
  const copyManifest = async (digest: string): Promise<{ mediaType: string; size: number }> => {
    const m = await store.getManifest(repo, digest);
    if (!m) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${digest} is not in ${repo}`);
    const doc = JSON.parse(m.bytes.toString('utf8')) as Doc;
    for (const child of doc.manifests ?? []) await copyManifest(child.digest);
    if (doc.config) await copyBlob(doc.config.digest);
    for (const l of doc.layers ?? []) if (!l.urls?.length) await copyBlob(l.digest);
    await copyBlob(digest);
    return { mediaType: m.mediaType, size: m.bytes.length };
  };
  const manifests = [];
  for (const tag of tags) {
    const m = await store.getManifest(repo, tag);
    if (!m) continue;
    const { mediaType, size } = await copyManifest(m.digest);
    manifests.push({ mediaType, digest: m.digest, size, annotations: { 'org.opencontainers.image.ref.name': tag } });
  }
  await fs.writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await fs.writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  return { tags: manifests.length, blobs: written.size };
}
