import { Readable } from 'node:stream';
import { OcimakeError, withContext } from '../errors.js';
import { canonicalBytes } from '../oci/canonical-json.js';
import { sha256 } from '../oci/digest.js';
import { isIndexType, MediaType } from '../oci/media-types.js';
import { formatReference, type Reference } from '../oci/reference.js';
import type { Descriptor, Index, Platform } from '../oci/schemas.js';
import { LIMITS } from '../remote/bounded.js';
import { fetchManifest } from '../remote/pull.js';
import { pushBlob, putManifest, type PushOptions } from '../remote/push.js';
import { listReferrers, putReferrer } from '../remote/referrers.js';
import type { Remote } from '../remote/registry-image.js';
import { registryError, type RegistryClient } from '../remote/transport.js';

// `ocimake imagetools create`: one index over images already in registries, as `docker buildx
// imagetools create` makes it after a CI matrix of native runners pushed each platform by digest.
// No layer is pulled: manifests are read, and where the index goes to another repository the
// blobs are mounted (same registry) or streamed (another), each manifest is put by digest, and
// the referrers of each (signatures, attestations) go with it.

interface Source { ref: Reference; client: RegistryClient; bytes: Buffer; mediaType: string; digest: string }

/** Reads a small blob (a config) whole, checked against its digest. */
async function smallBlob(client: RegistryClient, repo: string, desc: Descriptor): Promise<Buffer> {
  const r = await client.requestBytes({ method: 'GET', path: `/v2/${repo}/blobs/${desc.digest}`, scopes: [`repository:${repo}:pull`] }, LIMITS.config, `the config ${desc.digest}`, 'configSize');
  if (r.status !== 200) throw await registryError(r, `reading ${desc.digest} of ${repo}`, client);
  if (sha256(r.bytes) !== desc.digest) throw new OcimakeError('DIGEST_INVALID', `the blob ${desc.digest} of ${repo} does not match its digest`);
  return r.bytes;
}

/** The index entries a source gives: an index's manifests as they are, or an image with its config's platform. */
async function entriesOf(s: Source): Promise<Descriptor[]> {
  const json = JSON.parse(s.bytes.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; mediaType?: string };
  if (isIndexType(s.mediaType) || Array.isArray(json.manifests)) return json.manifests ?? [];
  if (!json.config) throw new OcimakeError('MANIFEST_INVALID', `${formatReference(s.ref)} is neither an image manifest nor an index`);
  const config = JSON.parse((await smallBlob(s.client, s.ref.repository, json.config)).toString('utf8')) as { os?: string; architecture?: string; variant?: string };
  if (!config.os || !config.architecture) throw new OcimakeError('MANIFEST_INVALID', `the config of ${formatReference(s.ref)} names no platform (os, architecture)`, { hint: 'imagetools create joins images built for a platform each' });
  const platform: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  return [{ mediaType: json.mediaType ?? s.mediaType, digest: s.digest as Descriptor['digest'], size: s.bytes.length, platform }];
}

/** Copies a manifest (and what it names, and its referrers) from `from` to `to` by digest. `referrer` when it is one: its descriptor and subject. */
async function copyManifest(remote: Remote, from: Reference, to: Reference, digest: string, opts: PushOptions, seen: Set<string>, referrer?: { of: string; descriptor: Descriptor }): Promise<void> {
  if (seen.has(digest)) return;
  seen.add(digest);
  const src = remote.client(from.registry);
  const dst = remote.client(to.registry);
  const m = await fetchManifest(src, { registry: from.registry, repository: from.repository }, digest);
  const json = JSON.parse(m.bytes.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  for (const child of json.manifests ?? []) await copyManifest(remote, from, to, child.digest, opts, seen);
  const sameRegistry = from.registry === to.registry;
  for (const b of [...(json.config ? [json.config] : []), ...(json.layers ?? [])]) {
    await pushBlob(dst, to.repository, b, () => openBlob(src, from.repository, b), opts, sameRegistry ? from.repository : undefined);
  }
  if (referrer) await putReferrer(dst, to.repository, referrer.of, referrer.descriptor, m.bytes);
  else await putManifest(dst, to.repository, digest, m.bytes, m.mediaType);
  // Signatures and attestations: OCI 1.1 referrers of the manifest (through the fallback tag where the registry has no referrers API).
  const { referrers } = await listReferrers(src, from.repository, digest).catch(() => ({ referrers: [] as Descriptor[] }));
  for (const r of referrers) await copyManifest(remote, from, to, r.digest, opts, seen, { of: digest, descriptor: r });
}

async function openBlob(client: RegistryClient, repo: string, desc: Descriptor): Promise<Readable> {
  const res = await client.request({ method: 'GET', path: `/v2/${repo}/blobs/${desc.digest}`, scopes: [`repository:${repo}:pull`] });
  if (res.status !== 200) throw await registryError(res, `reading ${desc.digest} of ${repo}`, client);
  return res.body as Readable;
}

/**
 * Makes one index of the sources (images or indexes, by tag or digest) and puts it under each
 * target tag. Two entries for one platform are refused: the index would be ambiguous.
 */
export async function createIndex(remote: Remote, sources: readonly Reference[], targets: readonly Reference[], opts: PushOptions & { dryRun?: boolean; annotations?: Record<string, string> } = {}): Promise<{ digest: string; bytes: Buffer; index: Index }> {
  if (sources.length === 0) throw new OcimakeError('FLAG_INVALID', 'imagetools create needs at least one source image', { hint: 'e.g. ocimake imagetools create -t REG/app:1 REG/app@sha256:… REG/app@sha256:…' });
  const read: Source[] = [];
  for (const ref of sources) {
    const client = remote.client(ref.registry);
    try {
      const m = await fetchManifest(client, ref);
      read.push({ ref, client, ...m });
    } catch (err) {
      throw withContext(`reading ${formatReference(ref)}`, err);
    }
  }
  const manifests: Descriptor[] = [];
  const byPlatform = new Map<string, string>();
  for (const s of read) {
    for (const d of await entriesOf(s)) {
      if (manifests.some((m) => m.digest === d.digest)) continue;
      const attestation = d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
      const p = d.platform ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}` : undefined;
      if (p && !attestation) {
        const other = byPlatform.get(p);
        if (other) throw new OcimakeError('INDEX_INVALID', `two sources are for ${p}: ${other} and ${formatReference(s.ref)}`, { hint: 'give one image per platform' });
        byPlatform.set(p, formatReference(s.ref));
      }
      manifests.push(d);
    }
  }
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests, ...(opts.annotations && Object.keys(opts.annotations).length ? { annotations: opts.annotations } : {}) };
  const bytes = canonicalBytes(index);
  const digest = sha256(bytes);
  if (opts.dryRun) return { digest, bytes, index };
  for (const t of targets) {
    const seen = new Set<string>();
    try {
      // What the target repository lacks is copied first, so the index never names a missing manifest.
      for (const s of read) {
        if (s.ref.registry === t.registry && s.ref.repository === t.repository) continue;
        await copyManifest(remote, s.ref, t, s.digest, opts, seen);
      }
      await putManifest(remote.client(t.registry), t.repository, t.tag ?? digest, bytes, MediaType.OciIndex);
      opts.onEvent?.({ kind: 'manifest', ref: formatReference({ ...t, digest: undefined }), digest });
    } catch (err) {
      throw withContext(`putting the index to ${formatReference(t)}`, err);
    }
  }
  return { digest, bytes, index };
}
