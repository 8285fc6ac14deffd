import { createReadStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { OcimakeError } from '../errors.js';
import { limit, overLimit } from '../util/limits.js';
import type { Image } from '../image/image.js';
import { imageFromManifest, parseConfig, parseIndex, parseManifest } from '../image/from-manifest.js';
import { sha256, type Digest } from '../oci/digest.js';
import { isIndexType, MediaType } from '../oci/media-types.js';
import type { Index, Manifest, Platform } from '../oci/schemas.js';
import { selectPlatform } from '../oci/select-platform.js';
import { BlobStore } from '../store/blob-store.js';
import { VerifyingTransform } from '../layer/hash-transform.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

/** An image read from a local source, with the digest of its manifest. */
export interface LocalImage { image: Image; digest: Digest; what: string; /** What the tag names when it is an index, as a registry serves it. */ top?: { bytes: Buffer; mediaType: string; digest: Digest } }

/**
 * Opens `oci:DIR[:TAG]`: picks the index entry whose ref name is TAG (or the only one), then
 * the platform when that entry is itself an index. Blobs are read from DIR in place.
 */
export async function openOciLayout(dir: string, tag: string | undefined, platform: Platform): Promise<LocalImage> {
  const what = `oci:${dir}${tag ? `:${tag}` : ''}`;
  const text = await readIndexJson(dir);
  const store = new BlobStore(dir);
  let index: Index = parseIndex(text, what);
  // Untagged, the layout's one image: referrers (signatures, attestations: they have an artifactType) do not count.
  let entries = tag ? index.manifests.filter((m) => m.annotations?.[REF_NAME] === tag) : index.manifests.filter((m) => !m.artifactType);
  if (entries.length === 0) throw new OcimakeError('IMAGE_NOT_FOUND', `${what}: no image tagged "${tag}"`, { hint: `tags: ${index.manifests.map((m) => m.annotations?.[REF_NAME]).filter(Boolean).join(', ') || 'none'}` });
  if (entries.length > 1 && entries.every((e) => e.platform)) entries = [selectPlatform({ ...index, manifests: entries }, platform, what)];
  if (entries.length > 1) throw new OcimakeError('IMAGE_AMBIGUOUS', `${what} holds ${entries.length} images`, { hint: 'name one as oci:DIR:TAG' });
  let desc = entries[0]!;
  let top: LocalImage['top'];
  for (let depth = 0; isIndexType(desc.mediaType) && depth < 4; depth++) {
    const bytes = await store.readBytes(desc.digest, { limit: 'manifestSize', what: `${what}: index` });
    if (sha256(bytes) !== desc.digest) throw new OcimakeError('DIGEST_INVALID', `${what}: index ${desc.digest} does not match its digest`);
    top ??= { bytes, mediaType: desc.mediaType, digest: desc.digest };
    index = parseIndex(bytes, what);
    desc = selectPlatform(index, platform, what);
  }
  const manifestBytes = await store.readBytes(desc.digest, { limit: 'manifestSize', what: `${what}: manifest` });
  if (sha256(manifestBytes) !== desc.digest) throw new OcimakeError('DIGEST_INVALID', `${what}: manifest ${desc.digest} does not match its digest`);
  const manifest = parseManifest(manifestBytes, what);
  const configBytes = await store.readBytes(manifest.config.digest, { limit: 'configSize', what: `${what}: config` });
  if (sha256(configBytes) !== manifest.config.digest || configBytes.length !== manifest.config.size) throw new OcimakeError('DIGEST_INVALID', `${what}: config ${manifest.config.digest} does not match its digest or size`, { hint: 'the layout is corrupt or was tampered with' });
  const config = parseConfig(configBytes, what);
  // Layers are read in place, through a check of digest and size (as registry pulls are);
  // no local path is offered, so no output hardlinks an unverified file.
  const sizes = new Map(manifest.layers.map((l) => [l.digest, l.size] as const));
  const source = {
    open: (d: string): Readable => {
      const verify = new VerifyingTransform(d, sizes.get(d as Digest) ?? -1, what);
      const file = store.open(d);
      file.on('error', (err) => verify.destroy(new OcimakeError('BLOB_UNKNOWN', `${what}: blob ${d} cannot be read: ${err.message}`, { cause: err })));
      return file.pipe(verify);
    },
  };
  return { image: imageFromManifest(manifest, config, source, what), digest: desc.digest, what, ...(top ? { top } : {}) };
}

/** A layout's index.json, refused past the manifestSize limit before it is read. */
async function readIndexJson(dir: string): Promise<string> {
  const file = join(dir, 'index.json');
  const st = await fs.stat(file).catch(() => {
    throw new OcimakeError('IMAGE_NOT_FOUND', `${dir} is not an OCI image layout (no index.json)`, { hint: 'write one with "ocimake build -o type=oci,dest=DIR" or "skopeo copy ... oci:DIR:TAG"' });
  });
  if (!st.isFile()) throw new OcimakeError('IMAGE_INVALID', `${file} is not a regular file`, { hint: 'an OCI layout\'s index.json is a small JSON file' });
  if (st.size > limit('manifestSize')) throw overLimit('manifestSize', `${file} is ${st.size} bytes`);
  return fs.readFile(file, 'utf8');
}

/**
 * Reads a tar file, gunzipped when it starts with the gzip magic. `done` settles when the
 * file has been read; on a read or gunzip error it rejects, and `extract` is destroyed.
 */
export async function openTarFile(file: string): Promise<{ extract: tar.Extract; done: Promise<void> }> {
  const fh = await fs.open(file, 'r');
  const head = Buffer.alloc(2);
  try { await fh.read(head, 0, 2, 0); } finally { await fh.close(); }
  const extract = tar.extract();
  const input = createReadStream(file);
  const done = head[0] === 0x1f && head[1] === 0x8b ? pipeline(input, createGunzip(), extract) : pipeline(input, extract);
  done.catch((err: unknown) => extract.destroy(err as Error));
  return { extract, done };
}

/**
 * Opens `docker-archive:FILE` (a `docker save` tarball, optionally gzipped): its files are
 * imported into `store` once (hashed as they stream), then the image is made from
 * manifest.json. Layers keep their bytes; uncompressed ones get the OCI tar media type.
 */
export async function openDockerArchive(file: string, store: BlobStore): Promise<LocalImage> {
  const what = `docker-archive:${file}`;
  const byPath = new Map<string, { digest: Digest; size: number }>();
  const { extract, done: piped } = await openTarFile(file).catch(() => { throw new OcimakeError('IMAGE_NOT_FOUND', `${what}: cannot open the file`); });
  let failed: unknown;
  const done = piped.catch((err: unknown) => { failed = err; });
  let manifestJson: Buffer | undefined;
  const broken = (err: unknown) => (err instanceof OcimakeError ? err : new OcimakeError('IMAGE_INVALID', `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err, hint: 'the archive is corrupt or cut off; make it again with "docker save" or "ocimake build -o type=docker"' }));
  try {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^\.\//, '');
      if (entry.header.type !== 'file') { entry.resume(); continue; }
      if (name === 'manifest.json') {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        manifestJson = Buffer.concat(chunks);
        continue;
      }
      byPath.set(name, await store.putStream(entry as unknown as Readable));
    }
  } catch (err) {
    extract.destroy();
    throw broken(failed ?? err);
  }
  await done;
  if (failed) throw broken(failed);
  if (!manifestJson) throw new OcimakeError('IMAGE_INVALID', `${what} has no manifest.json`, { hint: 'make it with "docker save" or "ocimake build -o type=docker,dest=FILE"' });
  const list = JSON.parse(manifestJson.toString('utf8')) as { Config: string; Layers: string[] }[];
  const top = list[0];
  if (!top || list.length !== 1) throw new OcimakeError('IMAGE_AMBIGUOUS', `${what} holds ${list.length} images; only single-image archives are supported`);
  const cfg = byPath.get(top.Config);
  if (!cfg) throw new OcimakeError('IMAGE_INVALID', `${what}: ${top.Config} is missing`);
  const configBytes = await store.readBytes(cfg.digest);
  const layers = await Promise.all(top.Layers.map(async (p) => {
    const blob = byPath.get(p);
    if (!blob) throw new OcimakeError('IMAGE_INVALID', `${what}: layer ${p} is missing`);
    const gz = await isGzip(store.path(blob.digest));
    return { mediaType: gz ? MediaType.OciLayerGzip : MediaType.OciLayer, digest: blob.digest, size: blob.size };
  }));
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, ...cfg }, layers };
  const config = parseConfig(configBytes, what);
  // An uncompressed layer's digest is its diffID: it must be the one the config names.
  layers.forEach((l, i) => {
    const want = config.rootfs.diff_ids[i];
    if (l.mediaType === MediaType.OciLayer && want !== undefined && want !== l.digest) {
      throw new OcimakeError('DIGEST_INVALID', `${what}: layer ${i + 1} has digest ${l.digest}, but the config's rootfs.diff_ids says ${want}`, { hint: 'the archive is corrupt or was tampered with' });
    }
  });
  const image = imageFromManifest(manifest, config, store.source(), what);
  return { image, digest: sha256(JSON.stringify(manifest)), what };
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await fs.open(path, 'r');
  try {
    const b = Buffer.alloc(2);
    await fh.read(b, 0, 2, 0);
    return b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}
