import { createReadStream, promises as fs, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-file.js';
import { mkdirp } from '../util/fs-paths.js';
import { forEachLimit } from '../util/parallel.js';
import { isDigest, sha256, type Digest } from '../oci/digest.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Cache } from '../store/cache.js';
import type { Readable } from 'node:stream';
import { finalizeEntries, markFinal, SMALL_FILE, type LayerEntry } from './entry.js';
import { defaultMtime, layerMediaType, unreadable, writeLayer, type TarWriteOptions, type WrittenLayer } from './tar-writer.js';

// The layer cache. A layer's bytes are a pure function of its entries (paths, modes,
// owners, link targets, file contents), the mtime written into every header and the
// compression: writeLayer is deterministic. So the cache key is a digest of exactly those,
// and a hit gives the layer (digest, diffID, size) with no tar and no gzip, whatever step,
// stage or Dockerfile produced the same entries. The blob itself is in the blob cache; a
// record whose blob is gone is a miss. Records are written atomically. Contents are hashed
// once: for the lookup (then a record is kept only if no file's stat changed while the layer
// was written), or, with --no-cache, as the bytes are written. So a file that changes while it
// is read cannot poison an entry.

/** Bumped when the layer writer's output changes for the same input (v3: 256 KiB gzip blocks). */
export const LAYER_FORMAT = 'ocimake-layer-v3';

export interface LayerCacheOptions {
  /** The cache directory: records in its layers/, the stat cache beside them. */
  cache: Cache;
  /** False for --no-cache: nothing is looked up, but what is written is still recorded. */
  lookup: boolean;
  /** Records imported with --cache-from, by key: consulted after the local records. */
  imported?: ReadonlyMap<string, ImportedRecord>;
}

/** Where a blob's bytes are (the shape of image/'s BlobSource, which sits above this folder). */
export interface BlobSource { open(digest: string): Readable | Promise<Readable>; localPath?(digest: string): Promise<string | undefined> }

/** A layer some earlier build recorded elsewhere (a registry, a directory), and where to get its blob. */
export interface ImportedRecord {
  layer: WrittenLayer;
  source: BlobSource;
  origin?: { registry: string; repository: string };
}

export interface CachedLayer extends WrittenLayer {
  cached: boolean;
  /** The cache key (absent when no cache is used). */
  key?: string;
  /** A second key the layer is known by: the content key of a layer with files copied out of an image. */
  alias?: string;
  /** For an imported record: where the blob is, when it is not in the local store yet. */
  source?: BlobSource;
  origin?: { registry: string; repository: string };
}

const Record = z.object({
  format: z.literal(LAYER_FORMAT),
  mediaType: z.string(),
  digest: z.string().refine(isDigest),
  diffId: z.string().refine(isDigest),
  size: z.number().int().nonnegative(),
  uncompressedSize: z.number().int().nonnegative(),
});

/**
 * Content digests of files already hashed, by path and what stat says of them (device,
 * inode, size, mtime and ctime in ns: an edit that keeps size and mtime still moves ctime).
 * Kept in memory for the process and in `<cache dir>/stat-cache.json` between builds (at most
 * 300,000 files), so an unchanged context is not read again.
 */
const hashed = new Map<string, Digest>();
let statCacheLoaded: Cache | undefined;
let statCacheDirty = false;
const STAT_CACHE_MAX = 300_000;

async function loadStatCache(cache: Cache): Promise<void> {
  if (statCacheLoaded?.root === cache.root) return;
  statCacheLoaded = cache;
  try {
    const j = JSON.parse(await fs.readFile(cache.statCacheFile, 'utf8')) as Record<string, string>;
    for (const [k, v] of Object.entries(j)) if (isDigest(v)) hashed.set(k, v as Digest);
  } catch {
    /* none yet, or unreadable: everything is hashed */
  }
}

async function saveStatCache(cache: Cache): Promise<void> {
  if (!statCacheDirty) return;
  statCacheDirty = false;
  const entries = [...hashed.entries()].slice(-STAT_CACHE_MAX);
  await mkdirp(cache.root);
  await writeFileAtomic(cache.statCacheFile, JSON.stringify(Object.fromEntries(entries))).catch(() => {});
}

/**
 * Writes the stat cache when new digests were learnt: once per build (build.ts calls it at the
 * end), not once per layer, since the file holds up to 300,000 entries.
 */
export async function flushStatCache(): Promise<void> {
  if (statCacheLoaded !== undefined) await saveStatCache(statCacheLoaded);
}


function signatureSize(signature: string): number {
  return Number(signature.split('\0')[3]);
}

/** What stat says of a file: device, inode, size, mtime and ctime (an edit always moves ctime). */
function statSignature(path: string): string {
  // Synchronous: a stat is microseconds, and thousands through the thread pool mostly wait.
  let st;
  try {
    st = statSync(path, { bigint: true });
  } catch (err) {
    throw unreadable(path, err as NodeJS.ErrnoException);
  }
  return `${path}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}`;
}

/** A file's SHA-256, from the stat cache when its stat signature is known (each file is hashed once per build). */
export async function fileDigest(path: string, remember = true): Promise<{ digest: Digest; signature: string }> {
  const signature = statSignature(path);
  const known = hashed.get(signature);
  if (known) return { digest: known, signature };
  const h = createHash('sha256');
  try {
    // Small files in one synchronous read (no thread-pool round trips); larger ones streamed.
    if (signatureSize(signature) <= SMALL_FILE) h.update(readFileSync(path));
    else for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (err) {
    throw unreadable(path, err as NodeJS.ErrnoException);
  }
  const d: Digest = `sha256:${h.digest('hex')}`;
  if (!remember) return { digest: d, signature };
  if (hashed.size > STAT_CACHE_MAX) hashed.delete(hashed.keys().next().value!);
  hashed.set(signature, d);
  statCacheDirty = true;
  return { digest: d, signature };
}

/**
 * What the key holds for a file still inside an image layer: its content id (layer blob digest
 * and path), which names the bytes as surely as their digest, so a hit reads nothing.
 */
function deferredKey(id: string): string {
  return `layer-content ${id}`;
}

const bufferDigests = new WeakMap<Buffer, Digest>();

/** Hashes the files of `entries` (8 at a time): digests by entry path, and the stat signature of each file read. */
async function contentDigests(entries: readonly LayerEntry[], remember = true): Promise<{ digests: Map<string, string>; signatures: Map<string, string> }> {
  const digests = new Map<string, string>();
  const signatures = new Map<string, string>();
  const files = entries.filter((e): e is Extract<LayerEntry, { type: 'file' }> => e.type === 'file');
  await forEachLimit(files, 8, async (e) => {
    if (e.source.kind === 'bytes') {
      // Many entries share one buffer (every empty file copied out of an image): hashed once.
      let d = bufferDigests.get(e.source.data);
      if (d === undefined) bufferDigests.set(e.source.data, (d = sha256(e.source.data)));
      digests.set(e.path, d);
      return;
    }
    if (e.source.kind === 'deferred') { digests.set(e.path, deferredKey(e.source.id)); return; }
    const { digest, signature } = await fileDigest(e.source.path, remember);
    digests.set(e.path, digest);
    signatures.set(e.source.path, signature);
  });
  return { digests, signatures };
}

/** The cache key of a layer: its finalized entries, their contents, the mtime and the media type. */
export function layerKey(sorted: readonly LayerEntry[], digests: ReadonlyMap<string, string>, mtime: number, mediaType: string): string {
  const h = createHash('sha256');
  h.update(`${LAYER_FORMAT}\n${mtime}\n${mediaType}\n`);
  for (const e of sorted) {
    const tail = e.type === 'file' ? `${e.size}\t${digests.get(e.path) ?? '?'}` : e.type === 'symlink' || e.type === 'hardlink' ? e.linkname : '';
    h.update(`${e.type}\t${JSON.stringify(e.path)}\t${(e.mode & 0o7777).toString(8)}\t${e.uid}\t${e.gid}\t${JSON.stringify(tail)}\n`);
  }
  return h.digest('hex');
}

/** The record of a layer key; missing, or written by another version: a miss. */
async function readRecord(cache: Cache, key: string): Promise<z.infer<typeof Record> | undefined> {
  return cache.readRecord(cache.recordPath('layers', key), Record, false);
}

/**
 * writeLayer through the cache: a hit returns the recorded layer (its blob verified to be in
 * the store, and marked used for `cache prune`); a miss writes the layer and records it.
 */
export async function writeLayerCached(store: BlobStore, entries: readonly LayerEntry[], opts: TarWriteOptions, cache: LayerCacheOptions | undefined): Promise<CachedLayer> {
  if (!cache) return { ...(await writeLayer(store, entries, opts)), cached: false };
  const mtime = opts.mtime ?? defaultMtime();
  const mediaType = opts.mediaType ?? layerMediaType(opts.compression);
  const level = opts.compression?.level ?? '';
  let sorted = finalizeEntries(entries);
  const typeTag = `${mediaType}${level === '' ? '' : `;level=${level}`}`;
  let hashedBefore: { key: string; signatures: Map<string, string> } | undefined;
  // A second key for a layer with files copied out of an image: the one their contents give.
  let alias: string | undefined;
  if (cache.lookup) {
    await loadStatCache(cache.cache);
    const { digests, signatures } = await contentDigests(sorted);
    const key = layerKey(sorted, digests, mtime, typeTag);
    const hit = await lookupRecord(store, cache, key, mediaType);
    if (hit) return hit;
    if (sorted.some((e) => e.type === 'file' && e.source.kind === 'deferred')) {
      // Files copied out of an image are keyed by where they are. The same bytes may have made
      // this very layer elsewhere (COPY --from a stage of what that stage wrote): keyed by their
      // content, that is a second chance before writing. They are read now, as a write would.
      sorted = await materialize(sorted);
      alias = layerKey(sorted, (await contentDigests(sorted, false)).digests, mtime, typeTag);
      const byContent = await lookupRecord(store, cache, alias, mediaType);
      if (byContent) {
        if (!byContent.source) await writeRecord(cache.cache, key, byContent);
        return { ...byContent, key, alias };
      }
    }
    hashedBefore = { key, signatures };
  }
  let layer: WrittenLayer;
  let key: string | undefined;
  if (hashedBefore) {
    // The contents were hashed for the lookup: not again while writing. The key stands only if
    // no file changed meanwhile (same stat signature); otherwise nothing is recorded.
    layer = await writeLayer(store, sorted, { ...opts, mtime, mediaType });
    const unchanged = [...hashedBefore.signatures].every(([p, sig]) => { try { return statSignature(p) === sig; } catch { return false; } });
    key = unchanged ? hashedBefore.key : undefined;
  } else {
    const written = new Map<string, Digest>();
    layer = await writeLayer(store, sorted, { ...opts, mtime, mediaType, onFileDigest: (p, d) => written.set(p, d) });
    // Keyed as a lookup would key it: files read out of image layers by their content id (and
    // by their content as well, as a lookup's second chance).
    const deferred = sorted.filter((e): e is Extract<LayerEntry, { type: 'file' }> => e.type === 'file' && e.source.kind === 'deferred');
    if (deferred.length > 0) alias = layerKey(sorted, written, mtime, typeTag);
    for (const e of deferred) if (e.source.kind === 'deferred') written.set(e.path, deferredKey(e.source.id) as Digest);
    key = layerKey(sorted, written, mtime, typeTag);
  }
  if (key === undefined) return { ...layer, cached: false };
  await writeRecord(cache.cache, key, layer);
  if (alias !== undefined) await writeRecord(cache.cache, alias, layer);
  return { ...layer, cached: false, key, ...(alias !== undefined ? { alias } : {}) };
}

/** The layer recorded under a layer-cache key (the step cache's hits), or undefined. */
export async function lookupLayer(store: BlobStore, cache: LayerCacheOptions, key: string, compression: TarWriteOptions['compression']): Promise<CachedLayer | undefined> {
  return lookupRecord(store, cache, key, layerMediaType(compression));
}

/** A recorded layer for `key`: a local record whose blob is in the store (marked used), else an imported one. */
async function lookupRecord(store: BlobStore, cache: LayerCacheOptions, key: string, mediaType: string): Promise<CachedLayer | undefined> {
  const rec = await readRecord(cache.cache, key);
  if (rec && (await store.has(rec.digest)) && (await store.size(rec.digest)) === rec.size) {
    const now = new Date();
    await Promise.all([fs.utimes(store.path(rec.digest), now, now), fs.utimes(cache.cache.recordPath('layers', key), now, now)]).catch(() => {});
    return { mediaType: rec.mediaType, digest: rec.digest as Digest, diffId: rec.diffId as Digest, size: rec.size, uncompressedSize: rec.uncompressedSize, cached: true, key };
  }
  const imported = cache.imported?.get(key);
  if (imported && imported.layer.mediaType === mediaType) {
    return { ...imported.layer, cached: true, key, source: imported.source, ...(imported.origin ? { origin: imported.origin } : {}) };
  }
  return undefined;
}

async function writeRecord(cache: Cache, key: string, layer: WrittenLayer): Promise<void> {
  const { mediaType, digest, diffId, size, uncompressedSize } = layer;
  await cache.writeRecord(cache.recordPath('layers', key), { format: LAYER_FORMAT, mediaType, digest, diffId, size, uncompressedSize });
}

/** The entries with every deferred source read (each copy's files in one pass per layer). */
async function materialize(entries: readonly LayerEntry[]): Promise<readonly LayerEntry[]> {
  const out: LayerEntry[] = [];
  for (const e of entries) out.push(e.type === 'file' && e.source.kind === 'deferred' ? { ...e, source: await e.source.load() } : e);
  return markFinal(out);
}
