import { OcimakeError } from '../errors.js';
import { MediaType } from '../oci/media-types.js';
import { ImageConfigSchema, ManifestSchema, type Descriptor, type ImageConfig, type Manifest } from '../oci/schemas.js';
import type { BlobSource, Image, Layer } from './image.js';

const DOCKER_TO_OCI: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerForeignLayerGzip]: MediaType.OciLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar': MediaType.OciLayer,
};

/** Parses manifest JSON, naming the source on failure. */
export function parseManifest(bytes: Buffer, what: string): Manifest {
  let json: unknown;
  try { json = JSON.parse(bytes.toString('utf8')); } catch (err) {
    throw new OcimakeError('MANIFEST_INVALID', `the manifest of ${what} is not JSON`, { cause: err });
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) throw new OcimakeError('MANIFEST_INVALID', `the manifest of ${what} is not a valid image manifest: ${r.error.issues[0]?.message ?? ''}`);
  return r.data;
}

/** Parses config JSON, naming the source on failure. */
export function parseConfig(bytes: Buffer, what: string): ImageConfig {
  let json: unknown;
  try { json = JSON.parse(bytes.toString('utf8')); } catch (err) {
    throw new OcimakeError('CONFIG_INVALID', `the config of ${what} is not JSON`, { cause: err });
  }
  const r = ImageConfigSchema.safeParse(json);
  if (!r.success) throw new OcimakeError('CONFIG_INVALID', `the config of ${what} is not a valid image config: ${r.error.issues[0]?.message ?? ''}`);
  return r.data;
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
