import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { OcimakeError, withContext } from '../errors.js';
import type { Image, Layer } from '../image/image.js';
import type { ImportedRecord } from '../layer/layer-cache.js';
import { VerifyingTransform } from '../layer/hash-transform.js';
import { withIndexLock } from '../layout/oci-layout.js';
import { canonicalBytes } from '../oci/canonical-json.js';
import { isDigest, sha256, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { formatReference, parseReference } from '../oci/reference.js';
import type { Descriptor } from '../oci/schemas.js';
import { fetchBlob, fetchManifest } from '../remote/pull.js';
import { pushBlob, putManifest } from '../remote/push.js';
import type { Remote } from '../remote/registry-image.js';
import { BlobStore } from '../store/blob-store.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { mkdirp } from '../util/fs-paths.js';
import { Readable } from 'node:stream';
import { absorbBundle, indexBundle, INDEX_BUNDLE_MEDIA, MAX_BUNDLE } from './cache-indexes.js';

// --cache-to / --cache-from, as buildx spells them. The cache is the layer cache's records
// (key → layer) plus the layer blobs, shipped as one OCI artifact manifest:
//   config  application/vnd.ocimake.cache.config.v1+json  {"records":[{key, layer, diffId, uncompressedSize}]}
//   layers  the layer blobs (so the registry keeps them and a push can mount them)
// under a tag of a registry repository (type=registry) or in an OCI layout (type=local).
// type=inline writes each layer's key as an annotation of its descriptor in the image
// itself, so the image pushed last time serves as --cache-from (the seeds' pattern).

export const CACHE_ARTIFACT = 'application/vnd.ocimake.cache.v1+json';
export const CACHE_CONFIG = 'application/vnd.ocimake.cache.config.v1+json';
export const KEY_ANNOTATION = 'dev.ocimake.cache.key';
const LOCAL_TAG = 'cache';

export type CacheSpec =
  | { type: 'registry'; ref: string; mode: 'min' | 'max' }
  | { type: 'local'; dir: string; mode: 'min' | 'max' }
  | { type: 'inline' };

/** One layer a build made or reused, with its key; `final` when the exported image has it. */
export interface CacheRecord { key: string; layer: Layer; uncompressedSize: number }

interface ConfigRecord { key: string; layer: number; diffId: string; uncompressedSize: number }

/** Parses `type=registry,ref=R[,mode=max]`, `type=local,dest=D|src=D`, `type=inline`, or a bare image reference. */
export function parseCacheSpec(flag: '--cache-from' | '--cache-to', text: string): CacheSpec {
  if (!text.includes('=')) { parseReference(text); return { type: 'registry', ref: text, mode: 'min' }; }
  const kv = new Map<string, string>();
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw new OcimakeError('FLAG_INVALID', `${flag} ${text}: "${part}" is not KEY=VALUE`);
    kv.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const type = kv.get('type') ?? 'registry';
  const mode = kv.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new OcimakeError('FLAG_INVALID', `${flag} ${text}: mode=${mode}`, { hint: 'mode is min (the layers of the image) or max (every stage\'s layers)' });
  const allowed: Record<string, string[]> = { registry: ['type', 'ref', 'mode'], local: ['type', flag === '--cache-to' ? 'dest' : 'src', 'mode'], inline: ['type'] };
  if (!allowed[type]) throw new OcimakeError('FLAG_UNSUPPORTED', `${flag} type=${type} is not supported`, { hint: 'ocimake takes type=registry,ref=REF, type=local,dest=DIR (src=DIR for --cache-from) and type=inline' });
  for (const k of kv.keys()) if (!allowed[type]!.includes(k)) throw new OcimakeError('FLAG_INVALID', `${flag} ${text}: type=${type} does not take "${k}"`, { hint: `it takes ${allowed[type]!.join(', ')}` });
  if (type === 'inline') {
    if (flag === '--cache-from') throw new OcimakeError('FLAG_INVALID', '--cache-from type=inline: name the image instead', { hint: '--cache-from REF reads the keys an image built with --cache-to type=inline carries' });
    return { type: 'inline' };
  }
  if (type === 'registry') {
    const ref = kv.get('ref');
    if (!ref) throw new OcimakeError('FLAG_INVALID', `${flag} ${text}: type=registry needs ref=REF`);
    parseReference(ref);
    return { type: 'registry', ref, mode };
  }
  const dir = kv.get(flag === '--cache-to' ? 'dest' : 'src');
  if (!dir) throw new OcimakeError('FLAG_INVALID', `${flag} ${text}: type=local needs ${flag === '--cache-to' ? 'dest' : 'src'}=DIR`);
  return { type: 'local', dir, mode };
}

function recordsOf(configBytes: Buffer, layers: readonly Descriptor[], what: string): ConfigRecord[] {
  let parsed: { records?: unknown };
  try {
    parsed = JSON.parse(configBytes.toString('utf8')) as { records?: unknown };
  } catch {
    throw new OcimakeError('CACHE_INVALID', `${what}: the cache config is not JSON`);
  }
  const out: ConfigRecord[] = [];
  for (const r of Array.isArray(parsed.records) ? parsed.records as ConfigRecord[] : []) {
    if (typeof r?.key === 'string' && /^[0-9a-f]{64}$/.test(r.key) && Number.isInteger(r.layer) && layers[r.layer] && isDigest(String(r.diffId)) && Number.isInteger(r.uncompressedSize)) out.push(r);
  }
  return out;
}

/** The descriptor of a cache's entry-index bundle, when its config names one of the right type and size. */
function bundleOf(configBytes: Buffer, layers: readonly Descriptor[]): Descriptor | undefined {
  let n: unknown;
  try { n = (JSON.parse(configBytes.toString('utf8')) as { entryIndexes?: unknown }).entryIndexes; } catch { return undefined; }
  const d = typeof n === 'number' && Number.isInteger(n) ? layers[n] : undefined;
  return d && d.mediaType === INDEX_BUNDLE_MEDIA && d.size <= MAX_BUNDLE ? d : undefined;
}

/**
 * Reads every --cache-from into records by key. A cache that is not there yet (the first
 * build) or cannot be read is a warning, never a failure, as in buildx.
 */
export async function importCache(specs: readonly CacheSpec[], ctx: { remote: Remote; store: BlobStore; warn: (m: string) => void }): Promise<Map<string, ImportedRecord>> {
  const out = new Map<string, ImportedRecord>();
  for (const spec of specs) {
    try {
      if (spec.type === 'registry') await importRegistry(spec.ref, ctx, out);
      else if (spec.type === 'local') await importLocal(spec.dir, out, ctx.store);
    } catch (err) {
      const name = spec.type === 'registry' ? spec.ref : spec.type === 'local' ? spec.dir : 'inline';
      ctx.warn(`--cache-from ${name}: ${err instanceof Error ? err.message : String(err)}; building without it`);
    }
  }
  return out;
}

async function importRegistry(text: string, ctx: { remote: Remote; store: BlobStore }, out: Map<string, ImportedRecord>): Promise<void> {
  const ref = parseReference(text);
  const client = ctx.remote.client(ref.registry);
  const what = formatReference(ref);
  const fetched = await fetchManifest(client, ref).catch((err: unknown) => {
    if (err instanceof OcimakeError && /MANIFEST_UNKNOWN|NAME_UNKNOWN|HTTP_404/.test(err.code)) throw new OcimakeError('CACHE_MISSING', 'not found (the first build writes it)');
    throw err;
  });
  const m = JSON.parse(fetched.bytes.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[] };
  if (!m.config || !Array.isArray(m.layers)) throw new OcimakeError('CACHE_INVALID', `${what} is an index, not a cache or an image manifest`, { hint: 'name one platform\'s image, or a cache written with --cache-to type=registry' });
  const layers = m.layers;
  await fetchBlob(client, ref.repository, m.config, ctx.store);
  const configBytes = await ctx.store.readBytes(m.config.digest);
  let records: ConfigRecord[];
  if (m.config.mediaType === CACHE_CONFIG) {
    records = recordsOf(configBytes, layers, what);
    const bundle = bundleOf(configBytes, layers);
    if (bundle) {
      await fetchBlob(client, ref.repository, bundle, ctx.store);
      absorbBundle(await ctx.store.readBytes(bundle.digest), ctx.store);
    }
  }
  else {
    // An image written with --cache-to type=inline: the keys are on its layer descriptors.
    const diffIds = (JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
    records = layers.flatMap((l, i) => {
      const keys = (l.annotations?.[KEY_ANNOTATION] ?? '').split(',').filter((k) => /^[0-9a-f]{64}$/.test(k));
      return diffIds[i] ? keys.map((key) => ({ key, layer: i, diffId: diffIds[i]!, uncompressedSize: 0 })) : [];
    });
  }
  const origin = { registry: ref.registry, repository: ref.repository };
  for (const r of records) {
    const desc = layers[r.layer]!;
    const source = {
      async open(d: string) {
        if (!(await ctx.store.has(d))) await fetchBlob(client, ref.repository, desc, ctx.store, r.diffId);
        return ctx.store.open(d);
      },
      localPath: async (d: string) => ((await ctx.store.has(d)) ? ctx.store.path(d) : undefined),
    };
    out.set(r.key, { layer: { mediaType: desc.mediaType, digest: desc.digest as Digest, diffId: r.diffId as Digest, size: desc.size, uncompressedSize: r.uncompressedSize }, source, origin });
  }
}

async function importLocal(dir: string, out: Map<string, ImportedRecord>, store?: BlobStore): Promise<void> {
  const what = `the cache in ${dir}`;
  const index = JSON.parse(await fs.readFile(join(dir, 'index.json'), 'utf8').catch(() => { throw new OcimakeError('CACHE_MISSING', 'not found (the first build writes it)'); })) as { manifests?: Descriptor[] };
  const entry = (index.manifests ?? []).find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === LOCAL_TAG) ?? index.manifests?.[0];
  if (!entry) throw new OcimakeError('CACHE_INVALID', `${what} is empty`);
  const dirStore = new BlobStore(dir);
  const manifestBytes = await dirStore.readBytes(entry.digest);
  if (sha256(manifestBytes) !== entry.digest) throw new OcimakeError('DIGEST_INVALID', `${what}: the manifest does not match its digest`);
  const m = JSON.parse(manifestBytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  const configBytes = await dirStore.readBytes(m.config.digest);
  if (sha256(configBytes) !== m.config.digest) throw new OcimakeError('DIGEST_INVALID', `${what}: the config does not match its digest`);
  const bundle = bundleOf(configBytes, m.layers);
  if (bundle && store) {
    const bytes = await dirStore.readBytes(bundle.digest);
    if (sha256(bytes) === bundle.digest) absorbBundle(bytes, store);
  }
  for (const r of recordsOf(configBytes, m.layers, what)) {
    const desc = m.layers[r.layer]!;
    // Read through a check of digest and size: the directory is not ours.
    const source = { open: (d: string) => dirStore.open(d).pipe(new VerifyingTransform(d, desc.size, what)) };
    out.set(r.key, { layer: { mediaType: desc.mediaType, digest: desc.digest as Digest, diffId: r.diffId as Digest, size: desc.size, uncompressedSize: r.uncompressedSize }, source });
  }
}

/** The records --cache-to writes: mode=min keeps those of the exported images' layers. */
export function selectRecords(records: readonly CacheRecord[], images: readonly Image[], mode: 'min' | 'max'): CacheRecord[] {
  const inImages = new Set(images.flatMap((img) => img.layers.map((l) => l.descriptor.digest)));
  const byKey = new Map<string, CacheRecord>();
  for (const r of records) if (mode === 'max' || inImages.has(r.layer.descriptor.digest)) byKey.set(r.key, r);
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}

function cacheArtifact(records: readonly CacheRecord[], bundle?: Descriptor): { layers: Descriptor[]; config: Buffer; configDesc: Descriptor; manifest: Buffer; manifestDesc: Descriptor } {
  const layers: Descriptor[] = [];
  const index = new Map<string, number>();
  const list: ConfigRecord[] = [];
  for (const r of records) {
    const d = r.layer.descriptor;
    if (!index.has(d.digest)) { index.set(d.digest, layers.length); layers.push({ mediaType: d.mediaType, digest: d.digest, size: d.size }); }
    list.push({ key: r.key, layer: index.get(d.digest)!, diffId: r.layer.diffId, uncompressedSize: r.uncompressedSize });
  }
  // The layers' entry indexes, when there are some: the last blob, named by `entryIndexes`.
  if (bundle) layers.push(bundle);
  const config = canonicalBytes(bundle ? { entryIndexes: layers.length - 1, records: list } : { records: list });
  const configDesc: Descriptor = { mediaType: CACHE_CONFIG, digest: sha256(config), size: config.length };
  const manifest = canonicalBytes({ schemaVersion: 2, mediaType: MediaType.OciManifest, artifactType: CACHE_ARTIFACT, config: configDesc, layers });
  return { layers, config, configDesc, manifest, manifestDesc: { mediaType: MediaType.OciManifest, digest: sha256(manifest), size: manifest.length } };
}

/** Writes the cache for each --cache-to (type=inline is applied to the image by the caller). */
export async function exportCache(specs: readonly CacheSpec[], records: readonly CacheRecord[], images: readonly Image[], ctx: { remote: Remote; store?: BlobStore }): Promise<void> {
  const bundleBytes = specs.some((s) => s.type !== 'inline') ? indexBundle(images, ctx.store) : undefined;
  const bundle = bundleBytes ? { mediaType: INDEX_BUNDLE_MEDIA, digest: sha256(bundleBytes), size: bundleBytes.length } : undefined;
  for (const spec of specs) {
    if (spec.type === 'inline') continue;
    const chosen = selectRecords(records, images, spec.mode);
    const art = cacheArtifact(chosen, bundle);
    const bundleLayer = bundle && bundleBytes ? { descriptor: bundle, source: { open: () => Readable.from([bundleBytes]) } } : undefined;
    const blobOf = new Map<string, Pick<Layer, 'descriptor' | 'source' | 'origin'>>(chosen.map((r) => [r.layer.descriptor.digest, r.layer] as const));
    if (bundleLayer) blobOf.set(bundleLayer.descriptor.digest, bundleLayer);
    if (spec.type === 'registry') {
      const ref = parseReference(spec.ref);
      const client = ctx.remote.client(ref.registry);
      try {
        for (const d of art.layers) {
          const layer = blobOf.get(d.digest)!;
          const from = layer.origin?.registry === ref.registry ? layer.origin.repository : undefined;
          await pushBlob(client, ref.repository, d, () => layer.source.open(d.digest), {}, from);
        }
        await pushBlob(client, ref.repository, art.configDesc, () => Readable.from([art.config]), {});
        await putManifest(client, ref.repository, ref.tag ?? 'latest', art.manifest, MediaType.OciManifest);
      } catch (err) {
        throw withContext(`exporting the build cache to ${formatReference(ref)}`, err);
      }
    } else {
      await mkdirp(spec.dir);
      const store = new BlobStore(spec.dir);
      for (const d of art.layers) {
        const layer = blobOf.get(d.digest)!;
        const local = await layer.source.localPath?.(d.digest);
        if (local) await store.linkFrom(local, d);
        else if (!(await store.has(d.digest))) await store.putStream(await layer.source.open(d.digest), d);
      }
      await store.putBytes(art.config, art.configDesc);
      await store.putBytes(art.manifest, art.manifestDesc);
      await withIndexLock(spec.dir, async () => {
        await writeFileAtomic(join(spec.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
        await writeFileAtomic(join(spec.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...art.manifestDesc, artifactType: CACHE_ARTIFACT, annotations: { 'org.opencontainers.image.ref.name': LOCAL_TAG } }] }));
      });
    }
  }
}

/** --cache-to type=inline: each layer whose key is known carries it as an annotation. */
export function withInlineKeys(image: Image, records: readonly CacheRecord[]): Image {
  // A layer known by two keys (by where its files are, and by their content) carries both, comma-separated.
  const keysOf = new Map<string, Set<string>>();
  for (const r of records) {
    const d = r.layer.descriptor.digest;
    if (!keysOf.has(d)) keysOf.set(d, new Set());
    keysOf.get(d)!.add(r.key);
  }
  const layers = image.layers.map((l) => {
    const keys = keysOf.get(l.descriptor.digest);
    return keys ? { ...l, descriptor: { ...l.descriptor, annotations: { ...(l.descriptor.annotations ?? {}), [KEY_ANNOTATION]: [...keys].sort().join(',') } } } : l;
  });
  return { ...image, layers };
}
