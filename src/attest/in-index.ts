import { canonicalBytes } from '../oci/canonical-json.js';
import { sha256 } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import { predicates, type AttestInput } from './attach.js';
import { statementFor } from './statement.js';

// `--provenance` and `--sbom` without `--sign`, as buildx makes them: unsigned in-toto
// statements in an attestation manifest that sits in the image index beside the image it is
// about (platform unknown/unknown, `vnd.docker.reference.type: attestation-manifest`,
// `vnd.docker.reference.digest: <the image's manifest>`), which `docker buildx imagetools
// inspect --format '{{json .Provenance}}'` and Docker Scout read. Signed attestations
// (`--sign`) are OCI 1.1 referrers instead (attach.ts).

export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';

/** An attestation manifest, its blobs, and the descriptor the index lists it under. */
export interface IndexAttestation { descriptor: Descriptor; bytes: Buffer; blobs: { descriptor: Descriptor; bytes: Buffer }[] }

export async function attestationManifest(input: AttestInput, opts: { provenance: 'min' | 'max' | false; sbom: boolean }, name: string): Promise<IndexAttestation> {
  const layers: { descriptor: Descriptor; bytes: Buffer }[] = [];
  for (const p of await predicates(input, opts)) {
    const bytes = Buffer.from(JSON.stringify(statementFor(name, input.descriptor.digest, p.type, p.of(name))));
    layers.push({ bytes, descriptor: { mediaType: IN_TOTO_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length, annotations: { 'in-toto.io/predicate-type': p.type } } });
  }
  // As BuildKit's: an image config for no platform, whose diff_ids are the statements.
  const config = canonicalBytes({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.descriptor.digest) } });
  const configDescriptor: Descriptor = { mediaType: MediaType.OciConfig, digest: sha256(config), size: config.length };
  const bytes = canonicalBytes({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDescriptor, layers: layers.map((l) => l.descriptor) });
  return {
    bytes,
    blobs: [{ descriptor: configDescriptor, bytes: config }, ...layers],
    descriptor: {
      mediaType: MediaType.OciManifest, digest: sha256(bytes), size: bytes.length,
      platform: { architecture: 'unknown', os: 'unknown' },
      annotations: { 'vnd.docker.reference.digest': input.descriptor.digest, 'vnd.docker.reference.type': 'attestation-manifest' },
    },
  };
}
