import { mkdirp } from '../util/fs-paths.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { OcimakeError } from '../errors.js';
import { imageArtifacts, type Image } from '../image/image.js';
import { MediaType } from '../oci/media-types.js';
import { IndexSchema, type Descriptor, type Index } from '../oci/schemas.js';
import { EMPTY_DESCRIPTOR, EMPTY_JSON, type ReferrerManifest } from '../oci/referrer.js';
import { BlobStore } from '../store/blob-store.js';
import { pidAlive, trackTemp } from '../util/temp-files.js';

// https://github.com/opencontainers/image-spec/blob/main/image-layout.md

const REF_NAME = 'org.opencontainers.image.ref.name';
const IMAGE_NAME = 'io.containerd.image.name';

export { writeFileAtomic } from '../util/atomic-file.js';

/**
 * Writes an image into an OCI image layout directory (created when missing, merged when it
 * already is one). Blobs are verified as they are copied; `index.json` is replaced
 * atomically last, so an interrupted write never leaves a tag that points at nothing.
 * `refName` becomes `org.opencontainers.image.ref.name` (what `skopeo oci:DIR:TAG` reads).
 */
export async function writeOciLayout(dir: string, image: Image, opts: { refName?: string; imageName?: string } = {}): Promise<Descriptor> {
  await mkdirp(dir);
  const layoutFile = join(dir, 'oci-layout');
  await readIndexIfAny(dir); // refuses a non-empty directory that is not a layout, before any write
  const store = new BlobStore(dir);
  const art = imageArtifacts(image);
  for (const layer of image.layers) {
    if (await store.has(layer.descriptor.digest)) continue;
    const local = await layer.source.localPath?.(layer.descriptor.digest);
    if (local) await store.linkFrom(local, layer.descriptor);
    else await store.putStream(await layer.source.open(layer.descriptor.digest), layer.descriptor);
  }
  await store.putBytes(art.configBytes, art.config);
  await store.putBytes(art.manifestBytes, art.descriptor);
  await fs.rmdir(join(dir, 'tmp')).catch(() => {}); // only when empty: another writer may be using it
  const annotations: Record<string, string> = {};
  if (opts.refName) annotations[REF_NAME] = opts.refName;
  if (opts.imageName) annotations[IMAGE_NAME] = opts.imageName;
  const desc: Descriptor = { ...art.descriptor, ...(Object.keys(annotations).length ? { annotations } : {}) };
  // Read, change and write index.json under a lock, so concurrent writers never lose a tag.
  await withIndexLock(dir, async () => {
    const existing = await readIndexIfAny(dir, true);
    const kept = (existing?.manifests ?? []).filter((m) => {
      const name = m.annotations?.[REF_NAME];
      return opts.refName ? name !== opts.refName : m.digest !== desc.digest || name !== undefined;
    });
    const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...kept, desc] };
    await writeFileAtomic(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFileAtomic(join(dir, 'index.json'), JSON.stringify(index));
  });
  return desc;
}

async function readIndexIfAny(dir: string, ours = false): Promise<Index | undefined> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, 'index.json'), 'utf8');
  } catch {
    if (ours) return undefined; // our own blobs are there already; the index comes now
    // A layout another writer is still filling (blobs first, index last) is a layout too.
    // Another writer's lock, blob staging dir (tmp/) and atomic-write temp files count as layout too.
    const entries = (await fs.readdir(dir)).filter((n) => !['index.json.lock', 'blobs', 'oci-layout', 'tmp'].includes(n) && !/^(index\.json|oci-layout)\.\d+\.[0-9a-f]+\.tmp$/.test(n));
    if (entries.length > 0) {
      throw new OcimakeError('OUTPUT_INVALID', `${dir} exists, is not empty, and is not an OCI image layout`, { hint: 'choose an empty or new directory for --output type=oci,dest=DIR' });
    }
    return undefined;
  }
  const parsed = IndexSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new OcimakeError('OUTPUT_INVALID', `${dir}/index.json is not a valid OCI index`);
  return parsed.data;
}


/**
 * Runs `fn` holding `DIR/index.json.lock` (created with O_EXCL, holding our pid). A lock
 * whose process is gone is taken over; a live one is waited for, up to a minute.
 */
export async function withIndexLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, 'index.json.lock');
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      const holder = Number(await fs.readFile(lock, 'utf8').catch(() => ''));
      if (holder && holder !== process.pid && !pidAlive(holder)) {
        await fs.rm(lock, { force: true });
        continue;
      }
      if (attempt > 1200) throw new OcimakeError('OUTPUT_BUSY', `${dir} is locked by another writer (pid ${holder || '?'})`, { hint: `if no ocimake is writing there, remove ${lock}` });
      await new Promise((r) => setTimeout(r, 10 + Math.min(attempt, 40)));
    }
  }
  const untrack = trackTemp(lock);
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
    untrack();
  }
}

/**
 * Adds an OCI 1.1 referrer (a signature or attestation of an image in this layout) as ORAS and
 * cosign keep them in a layout: its blob, the empty config and the manifest in blobs/, and the
 * manifest's descriptor (artifactType, annotations) in index.json.
 */
export async function addLayoutReferrer(dir: string, referrer: ReferrerManifest, blob: Buffer): Promise<void> {
  const store = new BlobStore(dir);
  await store.putBytes(blob, referrer.layer);
  await store.putBytes(EMPTY_JSON, EMPTY_DESCRIPTOR);
  await store.putBytes(referrer.bytes, referrer.descriptor);
  await withIndexLock(dir, async () => {
    const existing = await readIndexIfAny(dir, true);
    const kept = (existing?.manifests ?? []).filter((m) => m.digest !== referrer.descriptor.digest);
    await writeFileAtomic(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...kept, referrer.descriptor] }));
  });
}
