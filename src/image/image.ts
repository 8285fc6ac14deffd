import type { EntryIndexStore } from '../store/entry-index.js';
import type { Readable } from 'node:stream';
import { canonicalBytes } from '../oci/canonical-json.js';
import { sha256, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageConfig, Manifest } from '../oci/schemas.js';

/** Where a blob's bytes can be read from (a local store, a registry, a layout). */
export interface BlobSource {
  open(digest: string): Readable | Promise<Readable>;
  /** The local file holding the blob, when there is one and it is already verified (lets outputs hardlink it). */
  localPath?(digest: string): Promise<string | undefined>;
  /** Entry indexes of layers, by digest: the merged view reads one instead of the layer when it is there. */
  entryIndex?: EntryIndexStore;
}

/** A layer of an image: its compressed descriptor, its diffID and where its bytes are. */
export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  readonly source: BlobSource;
  /** Where the blob came from, when pulled from a registry (lets a push mount it instead of uploading). */
  readonly origin?: { registry: string; repository: string };
}

/**
 * An image: its config and its layers, in order. Images are immutable values; the helpers
 * in `mutate.ts` return new ones. The manifest and config bytes are derived on demand
 * with canonical JSON, so the same image always has the same digest.
 */
export interface Image {
  readonly config: ImageConfig;
  readonly layers: readonly Layer[];
  /** Manifest media type; OCI unless a Docker base is passed through unchanged. */
  readonly manifestMediaType?: string;
  readonly annotations?: Record<string, string>;
}

/** The serialised form of an image: config and manifest bytes with their descriptors. */
export interface ImageArtifacts {
  configBytes: Buffer;
  config: Descriptor;
  manifestBytes: Buffer;
  manifest: Manifest;
  descriptor: Descriptor;
  digest: Digest;
}

/** Serialises an image to an OCI manifest and config (canonical JSON). */
export function imageArtifacts(image: Image): ImageArtifacts {
  const configBytes = canonicalBytes(image.config);
  const config: Descriptor = { mediaType: MediaType.OciConfig, digest: sha256(configBytes), size: configBytes.length };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config,
    layers: image.layers.map((l) => l.descriptor),
  };
  if (image.annotations && Object.keys(image.annotations).length > 0) manifest.annotations = image.annotations;
  const manifestBytes = canonicalBytes(manifest);
  const digest = sha256(manifestBytes);
  return {
    configBytes,
    config,
    manifestBytes,
    manifest,
    digest,
    descriptor: { mediaType: MediaType.OciManifest, digest, size: manifestBytes.length },
  };
}
