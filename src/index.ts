// The public API of ocimake (named exports only).
export { OcimakeError } from './errors.js';
export * from './oci/index.js';
export type { Image, Layer, BlobSource, ImageArtifacts } from './image/image.js';
export { imageArtifacts } from './image/image.js';
export { appendLayer, editConfig } from './image/mutate.js';
export { writeLayer, defaultMtime, type WrittenLayer } from './layer/tar-writer.js';
export type { LayerEntry, EntrySource } from './layer/entry.js';
export { BlobStore } from './store/blob-store.js';
export { writeOciLayout } from './layout/oci-layout.js';
export { writeDockerArchive } from './layout/docker-archive.js';
export { parseReference, formatReference, type Reference } from './oci/reference.js';
export { RegistryClient, type TransportOptions } from './remote/transport.js';
export { dockerCredentials, type Credentials, type CredentialSource } from './remote/credentials.js';
export { pushImage, type PushEvent } from './remote/push.js';
export { parseDockerfile, dumpNode } from './dockerfile/parse.js';
export { planDockerfile } from './dockerfile/stages.js';
export { build, type BuildOptions, type BuildResult } from './builder/build.js';
export { buildAndExport, type BuildAndExportOptions, type Output } from './builder/export.js';
