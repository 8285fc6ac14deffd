import { withContext } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { isIndexType } from '../oci/media-types.js';
import { formatPlatform } from '../oci/platform.js';
import { IndexSchema, type Platform } from '../oci/schemas.js';
import type { Remote } from '../remote/registry-image.js';
import { imageArtifacts } from '../image/image.js';
import { openImage } from './open.js';

/** What `ocimake inspect` reports. */
export interface InspectResult {
  name: string;
  /** The digest the name resolves to (an index's, when it names one). */
  digest: string;
  mediaType: string;
  /** Platforms of an index, else the image's own. */
  platforms: string[];
  /** The manifest chosen for the platform. */
  manifestDigest: string;
  config: unknown;
  layers: { digest: string; size: number; mediaType: string; diffId: string }[];
  /** The raw manifest or index bytes the name resolves to. */
  raw: string;
}

/**
 * Inspects an image from any source without downloading its layers: the index (with its
 * platforms) when there is one, the manifest for `platform`, the config and the layer list.
 * Each document is fetched once.
 */
export async function inspectImage(spec: string, ctx: { remote: Remote; platform: Platform; store: BlobStore }): Promise<InspectResult> {
  try {
    const opened = await openImage(spec, ctx);
    const top = opened.top;
    const raw = top?.bytes.toString('utf8');
    const platforms = top && isIndexType(top.mediaType)
      ? IndexSchema.parse(JSON.parse(raw!)).manifests.filter((m) => m.platform && m.platform.architecture !== 'unknown').map((m) => formatPlatform(m.platform!))
      : undefined;
    const digest = top?.digest;
    const mediaType = top?.mediaType;
    const art = imageArtifacts(opened.image);
    const c = opened.image.config;
    return {
      name: opened.what,
      digest: digest ?? opened.digest,
      mediaType: mediaType ?? art.descriptor.mediaType,
      platforms: platforms ?? [formatPlatform({ os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) })],
      manifestDigest: opened.digest,
      config: c,
      layers: opened.image.layers.map((l) => ({ digest: l.descriptor.digest, size: l.descriptor.size, mediaType: l.descriptor.mediaType, diffId: l.diffId })),
      raw: raw ?? art.manifestBytes.toString('utf8'),
    };
  } catch (err) {
    throw withContext(`inspecting ${spec}`, err);
  }
}
