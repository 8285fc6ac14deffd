import { Readable } from 'node:stream';
import { OcimakeError, withContext } from '../errors.js';
import { imageArtifacts, type Image } from '../image/image.js';
import type { Descriptor } from '../oci/schemas.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { Remote } from './registry-image.js';
import { registryError, type RegistryClient, type TransportOptions } from './transport.js';

/** Progress events of a push. */
export type PushEvent =
  | { kind: 'blob-exists'; digest: string; size: number }
  | { kind: 'blob-uploaded'; digest: string; size: number }
  | { kind: 'blob-mounted'; digest: string; from: string }
  | { kind: 'manifest'; ref: string; digest: string };

export interface PushOptions extends TransportOptions {
  onEvent?: (e: PushEvent) => void;
  /** Clients shared with other pushes of the same build, so each registry authenticates once. */
  remote?: Remote;
}

/**
 * Pushes an image under one or more tags: for each repository, every blob is HEAD-checked
 * and uploaded only when missing (POST then PUT, streamed), then the manifest is PUT for
 * every tag. Blobs go before the manifest, so a tag never points at missing content.
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
      for (const layer of image.layers) {
        const from = layer.origin?.registry === first.registry ? layer.origin.repository : undefined;
        await pushBlob(client, repo, layer.descriptor, () => layer.source.open(layer.descriptor.digest), opts, from);
      }
      await pushBlob(client, repo, art.config, () => Readable.from([art.configBytes]), opts);
      for (const r of group) {
        const tag = r.tag ?? art.digest;
        await putManifest(client, repo, tag, art.manifestBytes, art.descriptor.mediaType);
        opts.onEvent?.({ kind: 'manifest', ref: formatReference({ ...r, digest: undefined }), digest: art.digest });
      }
    } catch (err) {
      throw withContext(`pushing ${formatReference(first)}`, err);
    }
  }
  return { digest: art.digest, descriptor: art.descriptor };
}

async function pushBlob(
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
  open: () => Readable | Promise<Readable>,
  opts: PushOptions,
  from?: string,
): Promise<void> {
  const scopes = [`repository:${repo}:pull,push`];
  const head = await client.request({ method: 'HEAD', path: `/v2/${repo}/blobs/${desc.digest}`, scopes });
  await head.body.dump();
  if (head.status === 200) {
    opts.onEvent?.({ kind: 'blob-exists', digest: desc.digest, size: desc.size });
    return;
  }
  let startPath = `/v2/${repo}/blobs/uploads/`;
  if (from && from !== repo) startPath += `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`;
  const scopesWithFrom = from && from !== repo ? [...scopes, `repository:${from}:pull`] : scopes;
  const start = await client.request({ method: 'POST', path: startPath, scopes: scopesWithFrom, headers: { 'content-length': '0' } });
  if (start.status === 201) {
    await start.body.dump();
    opts.onEvent?.({ kind: 'blob-mounted', digest: desc.digest, from: from ?? '' });
    return;
  }
  if (start.status !== 202) throw await registryError(start, `starting the upload of ${desc.digest}`, client.registry);
  await start.body.dump();
  const location = start.headers.location;
  if (!location) throw new OcimakeError('BLOB_UPLOAD_INVALID', `${client.registry} started an upload without a Location header`);
  const url = new URL(location, client.baseUrl);
  url.searchParams.set('digest', desc.digest);
  // A stream that can be reopened is replayable, so a retry re-sends the whole blob.
  const reopen = (): Readable => {
    const s = open();
    if (s instanceof Promise) return Readable.from(awaitStream(s));
    return s;
  };
  const put = await client.request({
    method: 'PUT',
    path: url.toString(),
    scopes,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
    body: reopen,
  });
  if (put.status !== 201 && put.status !== 204) throw await registryError(put, `uploading ${desc.digest}`, client.registry);
  await put.body.dump();
  opts.onEvent?.({ kind: 'blob-uploaded', digest: desc.digest, size: desc.size });
}

async function* awaitStream(p: Promise<Readable>): AsyncGenerator<Buffer> {
  for await (const chunk of await p) yield chunk as Buffer;
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
  if (res.status !== 201 && res.status !== 200 && res.status !== 204) throw await registryError(res, `putting the manifest ${repo}:${tagOrDigest}`, client.registry);
  await res.body.dump();
}
