import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { OcimakeError } from '../errors.js';
import { imageArtifacts, type Image } from '../image/image.js';
import { MediaType } from '../oci/media-types.js';
import { IndexSchema, type Descriptor, type Index } from '../oci/schemas.js';
import { BlobStore } from '../store/blob-store.js';

// https://github.com/opencontainers/image-spec/blob/main/image-layout.md

const REF_NAME = 'org.opencontainers.image.ref.name';
const IMAGE_NAME = 'io.containerd.image.name';

/** Writes `data` to `path` atomically (temporary file in the same directory, then rename). */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(tmp, data);
  const fh = await fs.open(tmp, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
  await fs.rename(tmp, path);
}

/**
 * Writes an image into an OCI image layout directory (created when missing, merged when it
 * already is one). Blobs are verified as they are copied; `index.json` is replaced
 * atomically last, so an interrupted write never leaves a tag that points at nothing.
 * `refName` becomes `org.opencontainers.image.ref.name` (what `skopeo oci:DIR:TAG` reads).
 */
export async function writeOciLayout(dir: string, image: Image, opts: { refName?: string; imageName?: string } = {}): Promise<Descriptor> {
  await fs.mkdir(dir, { recursive: true });
  const layoutFile = join(dir, 'oci-layout');
  const existing = await readIndexIfAny(dir);
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
  await fs.rm(join(dir, 'tmp'), { recursive: true, force: true });
  const annotations: Record<string, string> = {};
  if (opts.refName) annotations[REF_NAME] = opts.refName;
  if (opts.imageName) annotations[IMAGE_NAME] = opts.imageName;
  const desc: Descriptor = { ...art.descriptor, ...(Object.keys(annotations).length ? { annotations } : {}) };
  const kept = (existing?.manifests ?? []).filter((m) => {
    const name = m.annotations?.[REF_NAME];
    return opts.refName ? name !== opts.refName : m.digest !== desc.digest || name !== undefined;
  });
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...kept, desc] };
  await writeFileAtomic(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFileAtomic(join(dir, 'index.json'), JSON.stringify(index));
  return desc;
}

async function readIndexIfAny(dir: string): Promise<Index | undefined> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, 'index.json'), 'utf8');
  } catch {
    const entries = await fs.readdir(dir);
    if (entries.length > 0) {
      throw new OcimakeError('OUTPUT_INVALID', `${dir} exists, is not empty, and is not an OCI image layout`, { hint: 'choose an empty or new directory for --output type=oci,dest=DIR' });
    }
    return undefined;
  }
  const parsed = IndexSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new OcimakeError('OUTPUT_INVALID', `${dir}/index.json is not a valid OCI index`);
  return parsed.data;
}

