import { Readable } from 'node:stream';
import { withContext } from '../errors.js';
import { imageArtifacts, type Image } from '../image/image.js';
import type { Descriptor } from '../oci/schemas.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { Remote } from './registry-image.js';
import { discard } from './bounded.js';
import type { RetryBudget } from './retry.js';
import { registryError, type RegistryClient, type TransportOptions } from './transport.js';
import { CHUNKED_UPLOAD_MIN, uploadBlob } from './upload.js';
import { forEachLimit } from '../util/parallel.js';

/** Progress events of a push. */
export type PushEvent =
  | { kind: 'blob-exists'; digest: string; size: number }
  | { kind: 'blob-uploaded'; digest: string; size: number; ms: number }
  | { kind: 'blob-mounted'; digest: string; from: string }
  | { kind: 'manifest'; ref: string; digest: string }
  /** A signed attestation pushed as a referrer of the image `digest`. */
  | { kind: 'attestation'; ref: string; digest: string; predicateType: string };

export interface PushOptions extends TransportOptions {
  onEvent?: (e: PushEvent) => void;
  /** Clients shared with other pushes of the same build, so each registry authenticates once. */
  remote?: Remote;

}

/**
 * Pushes an image under one or more tags: for each repository, every blob is HEAD-checked
 * and uploaded only when missing (POST then PUT, streamed; four at a time), then the
 * manifest is PUT for every tag that does not name it already. Blobs go before the
 * manifest, so a tag never points at missing content.
 */
export async function pushImage(image: Image, refs: readonly Reference[], opts: PushOptions = {}): Promise<{ digest: string; descriptor: Descriptor }> {
  const art = imageArtifacts(image);
  const remote = opts.remote ?? new Remote(opts);
  const byRepo = new Map<string, Reference[]>();
  for (const r of refs) {
    const key = `${r.registry}/${r.repository}`;
    byRepo.set(key, [...(byRepo.get(key) ?? []), r]);
  }
  for (const group of byRepo.values()) {
    const first = group[0]!;
    const client = remote.client(first.registry);
    const repo = first.repository;
    try {
      const blobs = [
        ...image.layers.map((layer) => ({
          desc: layer.descriptor,
          open: () => layer.source.open(layer.descriptor.digest),
          from: layer.origin?.registry === first.registry ? layer.origin.repository : undefined,
        })),
        { desc: art.config, open: () => Readable.from([art.configBytes]), from: undefined },
      ];
      // The first request alone (it authenticates, once); then the rest, BLOB_JOBS at a time,
      // while the tags are looked up: a tag already naming this manifest is not PUT again.
      const [head, ...rest] = blobs;
      await pushBlob(client, repo, head!.desc, head!.open, opts, head!.from);
      const current = group.map((r) => (r.tag ? taggedDigest(client, repo, r.tag, art.descriptor.mediaType) : Promise.resolve(undefined)));
      await forEachLimit(rest, BLOB_JOBS, (b) => pushBlob(client, repo, b.desc, b.open, opts, b.from));
      for (const [i, r] of group.entries()) {
        const tag = r.tag ?? art.digest;
        if ((await current[i]) !== art.digest) await putManifest(client, repo, tag, art.manifestBytes, art.descriptor.mediaType);
        opts.onEvent?.({ kind: 'manifest', ref: formatReference({ ...r, digest: undefined }), digest: art.digest });
      }
    } catch (err) {
      throw withContext(`pushing ${formatReference(first)}`, err);
    }
  }
  return { digest: art.digest, descriptor: art.descriptor };
}

export async function pushBlob(
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
  open: () => Readable | Promise<Readable>,
  opts: PushOptions,
  from?: string,
): Promise<void> {
  const scopes = [`repository:${repo}:pull,push`];
  const budget = client.budget();
  if (await blobExists(client, repo, desc.digest, scopes, budget)) {
    opts.onEvent?.({ kind: 'blob-exists', digest: desc.digest, size: desc.size });
    return;
  }
  if (from && from !== repo) {
    const start = await client.request({
      method: 'POST', path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`,
      scopes: [...scopes, `repository:${from}:pull`], headers: { 'content-length': '0' }, budget,
    }).catch(() => undefined); // a mount we may not make falls back to an upload
    if (start) await discard(start.body);
    if (start?.status === 201) {
      opts.onEvent?.({ kind: 'blob-mounted', digest: desc.digest, from });
      return;
    }
  }
  const started = Date.now();
  await uploadBlob({ client, repo, desc, open, scopes, budget, chunkedMin: opts.chunkedUploadMin ?? CHUNKED_UPLOAD_MIN });
  opts.onEvent?.({ kind: 'blob-uploaded', digest: desc.digest, size: desc.size, ms: Date.now() - started });
}

/** Blobs checked or uploaded at once per repository (as crane's default of 4 jobs). */
const BLOB_JOBS = 4;

/** The digest a tag names now (HEAD, as the manifest's media type), or undefined when unknown or on any failure. */
async function taggedDigest(client: RegistryClient, repo: string, tag: string, mediaType: string): Promise<string | undefined> {
  try {
    const res = await client.request({ method: 'HEAD', path: `/v2/${repo}/manifests/${tag}`, scopes: [`repository:${repo}:pull,push`], headers: { accept: mediaType } });
    await discard(res.body);
    return res.status === 200 ? res.headers['docker-content-digest'] : undefined;
  } catch {
    return undefined;
  }
}

async function blobExists(client: RegistryClient, repo: string, digest: string, scopes: string[], budget: RetryBudget): Promise<boolean> {
  const head = await client.request({ method: 'HEAD', path: `/v2/${repo}/blobs/${digest}`, scopes, budget });
  await discard(head.body);
  return head.status === 200;
}

/** PUTs manifest bytes under a tag or digest. */
export async function putManifest(client: RegistryClient, repo: string, tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<void> {
  const res = await client.request({
    method: 'PUT',
    path: `/v2/${repo}/manifests/${tagOrDigest}`,
    scopes: [`repository:${repo}:pull,push`],
    headers: { 'content-type': mediaType },
    body: bytes,
  });
  if (res.status !== 201 && res.status !== 200 && res.status !== 204) throw await registryError(res, `putting the manifest ${repo}:${tagOrDigest}`, client);
  await discard(res.body);
}
