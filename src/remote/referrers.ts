import { Readable } from 'node:stream';
import { OcimakeError } from '../errors.js';
import { canonicalBytes } from '../oci/canonical-json.js';
import { sha256 } from '../oci/digest.js';
import { BUNDLE_MEDIA_TYPE, EMPTY_DESCRIPTOR, EMPTY_JSON, referrerManifest } from '../oci/referrer.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import { discard, readBounded, LIMITS } from './bounded.js';
import { pushBlob } from './push.js';
import type { RegistryClient } from './transport.js';
import { registryError } from './transport.js';

// OCI 1.1 referrers (image-spec manifest `subject`, distribution-spec referrers API): an
// attestation is an artifact manifest whose subject is the image manifest. Registries without
// the referrers API (distribution 2.8 and many self-hosted ones) get the spec's fallback too:
// an index under the tag `sha256-<hex>` of the subject, listing its referrers.

export { BUNDLE_MEDIA_TYPE };

export interface Referrer { descriptor: Descriptor & { artifactType?: string; annotations?: Record<string, string> } }

/** The fallback tag of a subject: `sha256-<hex>`. */
export function fallbackTag(subject: string): string {
  return subject.replace(':', '-');
}

/**
 * Pushes `blob` (a Sigstore bundle) as a referrer of `subject` in `repo`: the blob, the empty
 * config, the artifact manifest by digest, then (when the registry did not say `OCI-Subject`)
 * the fallback tag's index with this manifest added. Returns the manifest's descriptor.
 */
export async function pushReferrer(client: RegistryClient, repo: string, subject: Descriptor, blob: Buffer, annotations: Record<string, string>): Promise<Descriptor> {
  const { bytes, descriptor, layer } = referrerManifest(subject, blob, annotations);
  await pushBlob(client, repo, layer, () => Readable.from([blob]), {});
  await pushBlob(client, repo, EMPTY_DESCRIPTOR, () => Readable.from([EMPTY_JSON]), {});
  const res = await client.request({ method: 'PUT', path: `/v2/${repo}/manifests/${descriptor.digest}`, scopes: [`repository:${repo}:pull,push`], headers: { 'content-type': MediaType.OciManifest }, body: bytes });
  if (res.status !== 201 && res.status !== 200) throw await registryError(res, `pushing a referrer of ${subject.digest} to ${repo}`, client);
  await discard(res.body);
  if (res.headers['oci-subject'] !== subject.digest) await addToFallbackIndex(client, repo, subject.digest, descriptor);
  return descriptor;
}

/**
 * Puts an existing referrer's manifest (copied from another repository) into `repo` by digest,
 * and where the registry has no referrers API (no OCI-Subject answer), adds it to the fallback tag's index.
 */
export async function putReferrer(client: RegistryClient, repo: string, subject: string, descriptor: Referrer['descriptor'], bytes: Buffer): Promise<void> {
  const res = await client.request({ method: 'PUT', path: `/v2/${repo}/manifests/${descriptor.digest}`, scopes: [`repository:${repo}:pull,push`], headers: { 'content-type': descriptor.mediaType }, body: bytes });
  if (res.status !== 201 && res.status !== 200) throw await registryError(res, `copying the referrer ${descriptor.digest} of ${subject} to ${repo}`, client);
  await discard(res.body);
  if (res.headers['oci-subject'] !== subject) await addToFallbackIndex(client, repo, subject, descriptor);
}

async function addToFallbackIndex(client: RegistryClient, repo: string, subject: string, add: Referrer['descriptor']): Promise<void> {
  const tag = fallbackTag(subject);
  const current = await getIndex(client, repo, tag);
  const manifests = (current?.manifests ?? []).filter((m) => m.digest !== add.digest);
  manifests.push(add);
  const bytes = canonicalBytes({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests });
  const res = await client.request({ method: 'PUT', path: `/v2/${repo}/manifests/${tag}`, scopes: [`repository:${repo}:pull,push`], headers: { 'content-type': MediaType.OciIndex }, body: bytes });
  if (res.status !== 201 && res.status !== 200) throw await registryError(res, `tagging the referrers of ${subject} in ${repo} (${tag})`, client);
  await discard(res.body);
}

async function getIndex(client: RegistryClient, repo: string, ref: string, path = `/v2/${repo}/manifests/${ref}`): Promise<{ manifests: Referrer['descriptor'][] } | undefined> {
  const res = await client.request({ method: 'GET', path, scopes: [`repository:${repo}:pull`], headers: { accept: MediaType.OciIndex } });
  if (res.status === 404) { await discard(res.body); return undefined; }
  if (res.status !== 200) throw await registryError(res, `reading ${path}`, client);
  const j = JSON.parse((await readBounded(res.body, LIMITS.manifest, path, 'throw', undefined, 'manifestSize')).toString('utf8')) as { manifests?: Referrer['descriptor'][] };
  if (!Array.isArray(j.manifests)) throw new OcimakeError('MANIFEST_INVALID', `${path} is not an index`);
  return { manifests: j.manifests };
}

/** The referrers of `subject`: from the referrers API, else from the fallback tag. `artifactType` filters. */
export async function listReferrers(client: RegistryClient, repo: string, subject: string, artifactType?: string): Promise<{ referrers: Referrer['descriptor'][]; via: 'api' | 'tag' | 'none' }> {
  const api = await getIndex(client, repo, subject, `/v2/${repo}/referrers/${subject}`);
  let via: 'api' | 'tag' | 'none' = 'api';
  let list = api?.manifests;
  if (!list || list.length === 0) {
    const tagged = await getIndex(client, repo, fallbackTag(subject));
    if (tagged) { list = tagged.manifests; via = 'tag'; } else if (!api) via = 'none';
  }
  const referrers = (list ?? []).filter((m) => !artifactType || m.artifactType === artifactType);
  return { referrers, via };
}

/** Reads a referrer's bundle: its manifest (checked against the digest), then its one layer. */
export async function readReferrerBlob(client: RegistryClient, repo: string, digest: string): Promise<Buffer> {
  const res = await client.request({ method: 'GET', path: `/v2/${repo}/manifests/${digest}`, scopes: [`repository:${repo}:pull`], headers: { accept: MediaType.OciManifest } });
  if (res.status !== 200) throw await registryError(res, `reading the referrer ${digest}`, client);
  const bytes = await readBounded(res.body, LIMITS.manifest, `the referrer ${digest}`, 'throw', undefined, 'manifestSize');
  if (sha256(bytes) !== digest) throw new OcimakeError('DIGEST_INVALID', `the referrer ${digest} does not match its digest`);
  const m = JSON.parse(bytes.toString('utf8')) as { layers?: Descriptor[] };
  const layer = m.layers?.[0];
  if (!layer || layer.mediaType !== BUNDLE_MEDIA_TYPE) throw new OcimakeError('MANIFEST_INVALID', `the referrer ${digest} holds no Sigstore bundle`);
  if (layer.size > LIMITS.manifest) throw new OcimakeError('SIZE_INVALID', `the bundle of ${digest} is ${layer.size} bytes`);
  const blob = await client.request({ method: 'GET', path: `/v2/${repo}/blobs/${layer.digest}`, scopes: [`repository:${repo}:pull`] });
  if (blob.status !== 200) throw await registryError(blob, `reading the bundle ${layer.digest}`, client);
  const data = await readBounded(blob.body, layer.size, `the bundle ${layer.digest}`);
  if (sha256(data) !== layer.digest) throw new OcimakeError('DIGEST_INVALID', `the bundle ${layer.digest} does not match its digest`);
  return data;
}
