import type { z } from 'zod';
import { OcimakeError, type ErrorCode } from '../errors.js';
import { MediaType } from '../oci/media-types.js';
import { ImageConfigSchema, IndexSchema, ManifestSchema, type Descriptor, type ImageConfig, type Index, type Manifest } from '../oci/schemas.js';
import type { BlobSource, Image, Layer } from './image.js';

const DOCKER_TO_OCI: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerForeignLayerGzip]: MediaType.OciLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar': MediaType.OciLayer,
};

/** Parses JSON bytes against a schema, with an error that names the source and the document. */
function parseDoc<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, bytes: Buffer, code: ErrorCode, doc: string, what: string): T {
  let json: unknown;
  try { json = JSON.parse(bytes.toString('utf8')); } catch (err) {
    throw new OcimakeError(code, `the ${doc} of ${what} is not JSON`, { cause: err });
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new OcimakeError(code, `the ${doc} of ${what} is not a valid image ${doc}: ${r.error.issues[0]?.message ?? ''}`);
  return r.data;
}

/** Parses index JSON, naming the source on failure. */
export function parseIndex(bytes: Buffer | string, what: string): Index {
  return parseDoc(IndexSchema, Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes), 'MANIFEST_INVALID', 'index', what);
}

/** Parses manifest JSON, naming the source on failure. */
export function parseManifest(bytes: Buffer, what: string): Manifest {
  return parseDoc(ManifestSchema, bytes, 'MANIFEST_INVALID', 'manifest', what);
}

/** Parses config JSON, naming the source on failure. */
export function parseConfig(bytes: Buffer, what: string): ImageConfig {
  return parseDoc(ImageConfigSchema, bytes, 'CONFIG_INVALID', 'config', what);
}

/**
 * An Image over a pulled manifest and config. Layer bytes pass through unchanged (same
 * digests, no recompression); Docker media types become their OCI equivalents so the
 * result is a valid OCI image.
 */
export function imageFromManifest(manifest: Manifest, config: ImageConfig, source: BlobSource, what: string): Image {
  if (manifest.layers.length !== config.rootfs.diff_ids.length) {
    throw new OcimakeError('MANIFEST_INVALID', `${what}: the manifest has ${manifest.layers.length} layers but the config lists ${config.rootfs.diff_ids.length} diff_ids`);
  }
  const layers: Layer[] = manifest.layers.map((d, i) => {
    const descriptor: Descriptor = { mediaType: DOCKER_TO_OCI[d.mediaType] ?? d.mediaType, digest: d.digest, size: d.size };
    if (d.urls) descriptor.urls = d.urls;
    if (d.annotations) descriptor.annotations = d.annotations;
    return { descriptor, diffId: config.rootfs.diff_ids[i]!, source };
  });
  return { config, layers };
}
