import type { BlobStore } from '../store/blob-store.js';
import { openDockerArchive, openOciLayout } from '../layout/local-image.js';
import type { Digest } from '../oci/digest.js';
import type { Platform } from '../oci/schemas.js';
import { formatReference, parseReference, type Reference } from '../oci/reference.js';
import { pullImage, type Remote } from '../remote/registry-image.js';
import type { Image } from '../image/image.js';

/** An image opened from any source, as FROM, COPY --from, extract and inspect take them. */
export interface OpenedImage {
  image: Image;
  digest: Digest;
  /** Human name of the source, for messages. */
  what: string;
  /** Set for registry images: where the blobs can be mounted from on push. */
  ref?: Reference;
  downloads?: () => number;
  /** For registry images: what the reference named (index or manifest), as served. */
  top?: { bytes: Buffer; mediaType: string; digest: Digest };
  /** The registry mirror it came from, when one answered. */
  mirror?: string;
}

/**
 * Opens an image named as skopeo names them: `oci:DIR[:TAG]`, `docker-archive:FILE`, or a
 * registry reference (`alpine:3.20`, `ghcr.io/acme/app@sha256:…`).
 */
export async function openImage(spec: string, ctx: { remote: Remote; platform: Platform; store: BlobStore }): Promise<OpenedImage> {
  if (spec.startsWith('oci:')) {
    const rest = spec.slice(4);
    const m = /^(.*?)(?::([\w][\w.-]{0,127}))?$/.exec(rest);
    const dir = m?.[1] ?? rest;
    return openOciLayout(dir, m?.[2], ctx.platform);
  }
  if (spec.startsWith('docker-archive:')) {
    return openDockerArchive(spec.slice('docker-archive:'.length), ctx.store);
  }
  const ref = parseReference(spec);
  const pulled = await pullImage(ctx.remote, ref, ctx.platform, ctx.store);
  return { image: pulled.image, digest: pulled.digest, what: formatReference(ref), ref, downloads: pulled.downloads, top: pulled.top, ...(pulled.mirror ? { mirror: pulled.mirror } : {}) };
}
