import { promises as fs } from 'node:fs';
import { OcimakeError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { sha256, type Digest } from '../oci/digest.js';
import { INDEX_TYPES, MANIFEST_ACCEPT, MANIFEST_TYPES } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import { formatReference, referenceIdentifier, type Reference } from '../oci/reference.js';
import { destroyQuietly, LIMITS } from './bounded.js';
import { isTransient, networkError } from './retry.js';
import { DiffIdCheck } from './diff-id.js';
import { RegistryClient, registryError } from './transport.js';

/** Manifest bytes as served, verified against the digest they were asked by (or the header). */
export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

/** Content types a manifest may be served as: the manifest and index types, or generic JSON whose body says what it is. */
const GENERIC_JSON = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

/**
 * GETs a manifest or index with the OCI and Docker Accept types (at most the manifestSize limit, a cut body
 * asked for again). When asked by digest, the bytes must hash to it; when asked by tag, a
 * Docker-Content-Digest header must match. An answer served as anything but a manifest type
 * or generic JSON (an HTML login page, say) is refused.
 */
export async function fetchManifest(client: RegistryClient, ref: Reference, identifier = referenceIdentifier(ref)): Promise<FetchedManifest> {
  const what = `the manifest of ${formatReference(ref)}`;
  const res = await client.requestBytes({ method: 'GET', path: `/v2/${ref.repository}/manifests/${identifier}`, scopes: [`repository:${ref.repository}:pull`], headers: { accept: MANIFEST_ACCEPT } }, LIMITS.manifest, what, 'manifestSize');
  if (res.status !== 200) throw await registryError(res, `fetching ${what}`, client);
  const { bytes } = res;
  const digest = sha256(bytes);
  const expected = identifier.includes(':') ? identifier : res.headers['docker-content-digest'];
  if (expected && expected.startsWith('sha256:') && expected !== digest) {
    throw new OcimakeError('DIGEST_INVALID', `${what} does not match its digest: expected ${expected}, got ${digest}`, { hint: 'the registry or a proxy on the way answered with other content; nothing was kept' });
  }
  const served = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const known = MANIFEST_TYPES.includes(served) || INDEX_TYPES.includes(served);
  if (!known && !GENERIC_JSON.has(served)) {
    throw new OcimakeError('MANIFEST_INVALID', `${what} was served as ${served}, which is not a manifest`, {
      hint: 'the address may point at a web page or a proxy rather than a registry',
    });
  }
  let mediaType = known ? served : '';
  if (!known) {
    try {
      mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType as string ?? '';
    } catch {
      throw new OcimakeError('MANIFEST_INVALID', `${what} is not JSON`, { hint: 'the address may point at something other than a registry' });
    }
    if (typeof mediaType !== 'string') mediaType = '';
  }
  return { bytes, mediaType, digest };
}

/** Downloads in flight, per store and digest: a second open of the same blob waits for the first (single-flight). */
const inFlight = new WeakMap<BlobStore, Map<string, { from: string; done: Promise<void> }>>();

/**
 * Downloads a blob into `store`, verifying digest and size while it streams; a mismatch
 * keeps nothing and names the blob. A download cut off midway resumes with an HTTP `Range`
 * request from the last byte received, and starts over when the registry ignores Range.
 * Every attempt, resumed or restarted, spends one retry budget, so no answer loops forever.
 * With `diffId`, a layer is also decompressed as it arrives and must hash to it (the
 * config's rootfs.diff_ids entry), so a wrong diff_id never reaches an output.
 */
export function fetchBlob(client: RegistryClient, repository: string, desc: Descriptor, store: BlobStore, diffId?: string): Promise<void> {
  let mine = inFlight.get(store);
  if (!mine) inFlight.set(store, (mine = new Map()));
  const running = mine.get(desc.digest);
  const from = `${client.registry}/${repository}`;
  if (running) {
    // The same repository shares the outcome; another one, which may grant what the first refused, tries on its own once that ends.
    return running.from === from ? running.done : running.done.catch(() => {}).then(() => fetchBlob(client, repository, desc, store, diffId));
  }
  const done = fetchBlobOnce(client, repository, desc, store, diffId).finally(() => mine.delete(desc.digest));
  mine.set(desc.digest, { from, done });
  return done;
}

async function fetchBlobOnce(client: RegistryClient, repository: string, desc: Descriptor, store: BlobStore, diffId?: string): Promise<void> {
  if (await store.has(desc.digest)) {
    // Marked used, so `ocimake cache prune --keep-storage` evicts what builds no longer read.
    const now = new Date();
    await fs.utimes(store.path(desc.digest), now, now).catch(() => {});
    return;
  }
  const budget = client.budget();
  const started = Date.now();
  let writer = await store.writer();
  let received = 0;
  let uncompressed = diffId !== undefined ? DiffIdCheck.for(desc.mediaType) : undefined;
  try {
    for (;;) {
      const headers: Record<string, string> = received > 0 ? { range: `bytes=${received}-` } : {};
      const res = await client.request({ method: 'GET', path: `/v2/${repository}/blobs/${desc.digest}`, scopes: [`repository:${repository}:pull`], headers, budget });
      if (res.status !== 200 && res.status !== 206) throw await registryError(res, `fetching blob ${desc.digest} of ${repository}`, client);
      if (received > 0 && res.status === 200) {
        // The registry ignored the Range: start again from the first byte.
        await writer.abort();
        writer = await store.writer();
        received = 0;
        uncompressed?.abandon();
        uncompressed = diffId !== undefined ? DiffIdCheck.for(desc.mediaType) : undefined;
      }
      try {
        for await (const chunk of res.body) {
          received += (chunk as Buffer).length;
          client.moving({ direction: 'pull', digest: desc.digest, bytes: received, total: desc.size });
          if (received > desc.size) throw new OcimakeError('DIGEST_INVALID', `blob ${desc.digest} from ${client.registry}/${repository} is corrupt: more than ${desc.size} bytes`);
          await uncompressed?.update(chunk as Buffer);
          if (!writer.stream.write(chunk)) await new Promise((r) => writer.stream.once('drain', r));
        }
        if (received < desc.size) throw Object.assign(new Error(`body ended after ${received} of ${desc.size} bytes`), { code: 'HTTP_BODY_SHORT' });
        break;
      } catch (err) {
        destroyQuietly(res.body);
        if (err instanceof OcimakeError) throw err;
        if (isTransient(err) && (await budget.wait())) continue;
        throw networkError(`downloading blob ${desc.digest} of ${repository} from ${client.registry}`, err, budget, `check that ${client.registry} is reachable from here`);
      }
    }
    if (uncompressed && diffId !== undefined) {
      const got = await uncompressed.digest();
      if (got !== undefined && got !== diffId) {
        throw new OcimakeError('DIGEST_INVALID', `layer ${desc.digest} from ${client.registry}/${repository} is corrupt: its content has digest ${got}, but the image config's rootfs.diff_ids says ${diffId}`, {
          hint: 'the image is broken or was tampered with; nothing of it was kept',
        });
      }
    }
    await writer.commit({ digest: desc.digest, size: desc.size });
    client.transferred({ direction: 'pull', repository, digest: desc.digest, bytes: desc.size, ms: Date.now() - started });
  } catch (err) {
    uncompressed?.abandon();
    await writer.abort();
    if (err instanceof OcimakeError && err.code === 'DIGEST_INVALID' && !err.message.includes('is corrupt')) {
      throw new OcimakeError('DIGEST_INVALID', `blob ${desc.digest} from ${client.registry}/${repository} is corrupt: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
