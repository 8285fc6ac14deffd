import { OcimakeError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { sha256, type Digest } from '../oci/digest.js';
import { MANIFEST_ACCEPT } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import { formatReference, referenceIdentifier, type Reference } from '../oci/reference.js';
import { RegistryClient, registryError } from './transport.js';

/** Manifest bytes as served, verified against the digest they were asked by (or the header). */
export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

const MAX_MANIFEST = 4 << 20;

/**
 * GETs a manifest or index with the OCI and Docker Accept types. When asked by digest, the
 * bytes must hash to it; when asked by tag, a Docker-Content-Digest header must match.
 */
export async function fetchManifest(client: RegistryClient, ref: Reference, identifier = referenceIdentifier(ref)): Promise<FetchedManifest> {
  const res = await client.request({ method: 'GET', path: `/v2/${ref.repository}/manifests/${identifier}`, scopes: [`repository:${ref.repository}:pull`], headers: { accept: MANIFEST_ACCEPT } });
  if (res.status !== 200) throw await registryError(res, `fetching the manifest of ${formatReference(ref)}`, client.registry);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += (c as Buffer).length;
    if (size > MAX_MANIFEST) throw new OcimakeError('MANIFEST_INVALID', `the manifest of ${formatReference(ref)} is larger than 4 MiB`);
    chunks.push(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const digest = sha256(bytes);
  const expected = identifier.includes(':') ? identifier : res.headers['docker-content-digest'];
  if (expected && expected.startsWith('sha256:') && expected !== digest) {
    throw new OcimakeError('DIGEST_INVALID', `the manifest of ${formatReference(ref)} does not match its digest: expected ${expected}, got ${digest}`);
  }
  const mediaType = (res.headers['content-type'] ?? '').split(';')[0]!.trim() || ((JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? '');
  return { bytes, mediaType, digest };
}

/**
 * Downloads a blob into `store`, verifying digest and size while it streams; a mismatch
 * keeps nothing and names the blob. A download cut off midway is resumed with an HTTP
 * `Range` request from the last byte received (up to 5 times), as long as the registry
 * answers 206; otherwise it starts over.
 */
export async function fetchBlob(client: RegistryClient, repository: string, desc: Descriptor, store: BlobStore): Promise<void> {
  if (await store.has(desc.digest)) return;
  const writer = await store.writer();
  let received = 0;
  try {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = received > 0 ? { range: `bytes=${received}-` } : {};
      const res = await client.request({ method: 'GET', path: `/v2/${repository}/blobs/${desc.digest}`, scopes: [`repository:${repository}:pull`], headers });
      if (res.status !== 200 && res.status !== 206) throw await registryError(res, `fetching blob ${desc.digest} of ${repository}`, client.registry);
      if (received > 0 && res.status === 200) {
        // The registry ignored the Range: start again from the first byte.
        await res.body.dump();
        await writer.abort();
        return fetchBlob(client, repository, desc, store);
      }
      try {
        for await (const chunk of res.body) {
          received += (chunk as Buffer).length;
          if (received > desc.size) throw new OcimakeError('DIGEST_INVALID', `blob ${desc.digest} from ${client.registry}/${repository} is corrupt: more than ${desc.size} bytes`);
          if (!writer.stream.write(chunk)) await new Promise((r) => writer.stream.once('drain', r));
        }
        break;
      } catch (err) {
        if (err instanceof OcimakeError || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
    await writer.commit({ digest: desc.digest, size: desc.size });
  } catch (err) {
    await writer.abort();
    if (err instanceof OcimakeError && err.code === 'DIGEST_INVALID' && !err.message.includes('is corrupt')) {
      throw new OcimakeError('DIGEST_INVALID', `blob ${desc.digest} from ${client.registry}/${repository} is corrupt: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
