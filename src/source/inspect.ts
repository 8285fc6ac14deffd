import { withContext } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { isIndexType } from '../oci/media-types.js';
import { formatPlatform } from '../oci/platform.js';
import { IndexSchema, type Platform } from '../oci/schemas.js';
import type { Remote } from '../remote/registry-image.js';
import type { Reference } from '../oci/reference.js';
import { imageArtifacts } from '../image/image.js';
import { openImage } from './open.js';
import { listReferrers } from '../remote/referrers.js';

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
  /** For registry images: the manifests whose subject is this one (OCI 1.1 referrers: signatures, attestations). */
  referrers?: { digest: string; artifactType?: string; annotations?: Record<string, string> }[];
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
      ...(opened.ref ? await referrersOf(ctx.remote, opened.ref, opened.digest) : {}),
    };
  } catch (err) {
    throw withContext(`inspecting ${spec}`, err);
  }
}

/** The referrers of a registry image; none listed (rather than a failed inspect) when the registry will not say. */
async function referrersOf(remote: Remote, ref: Reference, digest: string): Promise<Pick<InspectResult, 'referrers'>> {
  try {
    const { referrers } = await listReferrers(remote.client(ref.registry), ref.repository, digest);
    return { referrers: referrers.map((r) => ({ digest: r.digest, ...(r.artifactType ? { artifactType: r.artifactType } : {}), ...(r.annotations ? { annotations: r.annotations } : {}) })) };
  } catch {
    return {};
  }
}
