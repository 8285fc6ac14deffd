import { canonicalBytes } from './canonical-json.js';
import { sha256 } from './digest.js';
import { MediaType } from './media-types.js';
import type { Descriptor } from './schemas.js';

// An OCI 1.1 artifact manifest that refers to `subject` (image-spec: `subject`, `artifactType`,
// the empty config): what signatures and attestations are stored as, in a registry or a layout.

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_DESCRIPTOR = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(EMPTY_JSON), size: EMPTY_JSON.length } as const;

export interface ReferrerManifest {
  bytes: Buffer;
  /** The manifest's descriptor, with artifactType and annotations (as a referrers index lists it). */
  descriptor: Descriptor & { artifactType: string; annotations: Record<string, string> };
  /** The one layer: the blob (a Sigstore bundle). */
  layer: Descriptor;
}

export function referrerManifest(subject: Descriptor, blob: Buffer, annotations: Record<string, string>, artifactType = BUNDLE_MEDIA_TYPE): ReferrerManifest {
  const layer: Descriptor = { mediaType: artifactType, digest: sha256(blob), size: blob.length };
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType,
    config: { ...EMPTY_DESCRIPTOR, data: EMPTY_JSON.toString('base64') },
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
  const bytes = canonicalBytes(manifest);
  return { bytes, layer, descriptor: { mediaType: MediaType.OciManifest, digest: sha256(bytes), size: bytes.length, artifactType, annotations } };
}
