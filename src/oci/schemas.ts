import { z } from 'zod';
import { isDigest } from './digest.js';

// Wire types of the OCI image spec, which also covers Docker v2 schema 2 (same shape,
// other media types). Unknown fields are kept (passthrough) so that a manifest or config
// read from a registry round-trips without loss.

const digestString = z.string().refine(isDigest, { message: 'not a valid sha256/sha512 digest' });

/** https://github.com/opencontainers/image-spec/blob/main/image-index.md#image-index-property-descriptions (platform) */
export const PlatformSchema = z
  .object({
    architecture: z.string(),
    os: z.string(),
    'os.version': z.string().optional(),
    'os.features': z.array(z.string()).optional(),
    variant: z.string().optional(),
    features: z.array(z.string()).optional(),
  })
  .passthrough();
export type Platform = z.infer<typeof PlatformSchema>;

/** https://github.com/opencontainers/image-spec/blob/main/descriptor.md */
export const DescriptorSchema = z
  .object({
    mediaType: z.string(),
    digest: digestString,
    size: z.number().int().nonnegative(),
    urls: z.array(z.string()).optional(),
    annotations: z.record(z.string()).optional(),
    data: z.string().optional(),
    artifactType: z.string().optional(),
    platform: PlatformSchema.optional(),
  })
  .passthrough();
export type Descriptor = z.infer<typeof DescriptorSchema>;

/** https://github.com/opencontainers/image-spec/blob/main/manifest.md */
export const ManifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    config: DescriptorSchema,
    layers: z.array(DescriptorSchema),
    subject: DescriptorSchema.optional(),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();
export type Manifest = z.infer<typeof ManifestSchema>;

/** https://github.com/opencontainers/image-spec/blob/main/image-index.md */
export const IndexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    manifests: z.array(DescriptorSchema),
    subject: DescriptorSchema.optional(),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();
export type Index = z.infer<typeof IndexSchema>;

/** https://github.com/opencontainers/image-spec/blob/main/config.md#properties (the `config` member) */
export const ContainerConfigSchema = z
  .object({
    User: z.string().nullish(),
    ExposedPorts: z.record(z.object({}).passthrough()).nullish(),
    Env: z.array(z.string()).nullish(),
    Entrypoint: z.array(z.string()).nullish(),
    Cmd: z.array(z.string()).nullish(),
    Volumes: z.record(z.object({}).passthrough()).nullish(),
    WorkingDir: z.string().nullish(),
    Labels: z.record(z.string()).nullish(),
    StopSignal: z.string().nullish(),
    ArgsEscaped: z.boolean().nullish(),
    Shell: z.array(z.string()).nullish(),
    Healthcheck: z
      .object({
        Test: z.array(z.string()).nullish(),
        Interval: z.number().nullish(),
        Timeout: z.number().nullish(),
        StartPeriod: z.number().nullish(),
        StartInterval: z.number().nullish(),
        Retries: z.number().nullish(),
      })
      .passthrough()
      .nullish(),
    OnBuild: z.array(z.string()).nullish(),
  })
  .passthrough();
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

/** https://github.com/opencontainers/image-spec/blob/main/config.md#properties (`history` items) */
export const HistorySchema = z
  .object({
    created: z.string().optional(),
    created_by: z.string().optional(),
    author: z.string().optional(),
    comment: z.string().optional(),
    empty_layer: z.boolean().optional(),
  })
  .passthrough();
export type History = z.infer<typeof HistorySchema>;

/** https://github.com/opencontainers/image-spec/blob/main/config.md */
export const ImageConfigSchema = z
  .object({
    created: z.string().optional(),
    author: z.string().optional(),
    architecture: z.string(),
    os: z.string(),
    'os.version': z.string().optional(),
    'os.features': z.array(z.string()).optional(),
    variant: z.string().optional(),
    config: ContainerConfigSchema.nullish(),
    rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digestString) }).passthrough(),
    history: z.array(HistorySchema).nullish(),
  })
  .passthrough();
export type ImageConfig = z.infer<typeof ImageConfigSchema>;
