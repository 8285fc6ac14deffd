import type { Image } from '../image/image.js';
import type { BlobStore } from '../store/blob-store.js';
import { decodeRows, encodeRows } from '../store/entry-index.js';
import { isDigest } from '../oci/digest.js';

// The entry indexes of the exported images' layers travel with the build cache, one blob
// beside the layers: a fresh runner then builds the merged view of its base image (to resolve
// COPY destinations and parents) without downloading the base's layers at all, since a push
// finds them in the registry anyway. Entries read from an index pass the same checks as
// entries read from a tar, so an index is trusted no more than the cache that carries it
// (which names whole layers by key in any case).

export const INDEX_BUNDLE_MEDIA = 'application/vnd.ocimake.layer-indexes.v1+json';
const FORMAT = 'ocimake-layer-indexes-v1';
/** Larger bundles are not written (or read): a cache stays a few KiB to a few MiB beside its layers. */
export const MAX_BUNDLE = 16 * 2 ** 20;

/** The entry indexes the store has for the images' layers, as one blob; undefined when it has none (or too many). */
export function indexBundle(images: readonly Image[], store: BlobStore | undefined): Buffer | undefined {
  const index = store?.entryIndex;
  if (!index) return undefined;
  const indexes: Record<string, unknown[][]> = {};
  let any = false;
  for (const image of images) {
    for (const l of image.layers) {
      const d = l.descriptor.digest;
      if (d in indexes) continue;
      const entries = index.get(d);
      if (entries) { indexes[d] = encodeRows(entries); any = true; }
    }
  }
  if (!any) return undefined;
  const bytes = Buffer.from(JSON.stringify({ format: FORMAT, indexes }));
  return bytes.length <= MAX_BUNDLE ? bytes : undefined;
}

/** Records the indexes of a bundle that the store does not have yet; returns how many. Malformed parts are skipped. */
export function absorbBundle(bytes: Buffer, store: BlobStore): number {
  const index = store.entryIndex;
  if (!index || bytes.length > MAX_BUNDLE) return 0;
  let j: { format?: unknown; indexes?: unknown };
  try { j = JSON.parse(bytes.toString('utf8')) as typeof j; } catch { return 0; }
  if (j.format !== FORMAT || !j.indexes || typeof j.indexes !== 'object') return 0;
  let n = 0;
  for (const [digest, rows] of Object.entries(j.indexes as Record<string, unknown>)) {
    if (!isDigest(digest) || index.get(digest)) continue;
    const entries = decodeRows(rows);
    if (!entries) continue;
    index.put(digest, entries);
    n++;
  }
  return n;
}
