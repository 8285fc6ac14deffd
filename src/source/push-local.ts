import { promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import { OcimakeError, withContext } from '../errors.js';
import { parseIndex, parseManifest } from '../image/from-manifest.js';
import { openDockerArchive, openTarFile } from '../layout/local-image.js';
import { isDigest, sha256, type Digest } from '../oci/digest.js';
import { isIndexType } from '../oci/media-types.js';
import { formatReference, type Reference } from '../oci/reference.js';
import type { Descriptor, Index } from '../oci/schemas.js';
import { pushBlob, pushImage, putManifest, type PushEvent } from '../remote/push.js';
import type { Remote } from '../remote/registry-image.js';
import type { RegistryClient } from '../remote/transport.js';
import { BlobStore } from '../store/blob-store.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

export interface PushLocalContext {
  remote: Remote;
  /** Where the blobs of an archive are imported (the blob cache). */
  store: BlobStore;
  onEvent?: (e: PushEvent) => void;
}

/**
 * `ocimake push SOURCE REF`: pushes an OCI layout (`DIR`, `oci:DIR[:TAG]`), an OCI archive
 * (`FILE.tar`, `oci-archive:FILE[:TAG]`) or a `docker save` archive (`docker-archive:FILE`, or
 * a tar without index.json) to a registry. Layouts and OCI archives go byte for byte, so the
 * digest in the registry is the digest on disk, multi-platform indexes included.
 */
export async function pushLocal(spec: string, refs: readonly Reference[], ctx: PushLocalContext): Promise<{ digest: string; mediaType: string }> {
  const { kind, path, tag } = await classify(spec);
  if (kind === 'docker') {
    const { image } = await openDockerArchive(path, ctx.store);
    const r = await pushImage(image, refs, { remote: ctx.remote, ...(ctx.onEvent ? { onEvent: ctx.onEvent } : {}) });
    return { digest: r.digest, mediaType: r.descriptor.mediaType };
  }
  const what = `${kind === 'layout' ? 'oci' : 'oci-archive'}:${path}${tag ? `:${tag}` : ''}`;
  const { store, indexText } = kind === 'layout'
    ? { store: new BlobStore(path), indexText: await fs.readFile(`${path}/index.json`, 'utf8') }
    : await importOciArchive(path, ctx.store, what);
  const top = pickEntry(parseIndex(indexText, what), tag, what);
  const pusher = new TreePusher(store, what, ctx.onEvent);
  for (const ref of refs) {
    const client = ctx.remote.client(ref.registry);
    try {
      await pusher.pushManifest(client, ref.repository, top, 0);
      if (ref.tag) {
        await putManifest(client, ref.repository, ref.tag, await pusher.bytes(top), top.mediaType);
        ctx.onEvent?.({ kind: 'manifest', ref: formatReference({ ...ref, digest: undefined }), digest: top.digest });
      }
    } catch (err) {
      throw withContext(`pushing ${what} to ${formatReference(ref)}`, err);
    }
  }
  return { digest: top.digest, mediaType: top.mediaType };
}

async function classify(spec: string): Promise<{ kind: 'layout' | 'oci-archive' | 'docker'; path: string; tag?: string }> {
  const withTag = (rest: string) => {
    const m = /^(.*?)(?::([\w][\w.-]{0,127}))?$/.exec(rest)!;
    return { path: m[1]!, ...(m[2] ? { tag: m[2] } : {}) };
  };
  if (spec.startsWith('oci:')) return { kind: 'layout', ...withTag(spec.slice(4)) };
  if (spec.startsWith('oci-archive:')) return { kind: 'oci-archive', ...withTag(spec.slice('oci-archive:'.length)) };
  if (spec.startsWith('docker-archive:')) return { kind: 'docker', path: spec.slice('docker-archive:'.length) };
  const st = await fs.stat(spec).catch(() => undefined);
  if (!st) throw new OcimakeError('IMAGE_NOT_FOUND', `${spec}: no such file or directory`, { hint: 'give an OCI layout directory, an OCI archive or a docker-archive tar (oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE)' });
  if (st.isDirectory()) {
    if (!(await fs.stat(`${spec}/index.json`).catch(() => undefined))) throw new OcimakeError('IMAGE_NOT_FOUND', `${spec} is not an OCI image layout (no index.json)`, { hint: 'write one with "ocimake build -o type=oci,dest=DIR"' });
    return { kind: 'layout', path: spec };
  }
  return { kind: (await tarHasIndexJson(spec)) ? 'oci-archive' : 'docker', path: spec };
}

async function tarHasIndexJson(file: string): Promise<boolean> {
  let found = false;
  const opened = await openTarFile(file).catch((err: unknown) => { throw new OcimakeError('IMAGE_INVALID', `${file} is not a readable tar archive: ${(err as Error).message}`, { cause: err }); });
  const { extract, done } = opened;
  try {
    for await (const entry of extract) {
      if (entry.header.name.replace(/^\.\//, '') === 'index.json') { found = true; entry.resume(); break; }
      entry.resume();
    }
  } catch (err) {
    throw new OcimakeError('IMAGE_INVALID', `${file} is not a readable tar archive: ${(err as Error).message}`, { cause: err });
  }
  extract.destroy();
  await done.catch(() => {});
  return found;
}

/** Imports an OCI archive's blobs into `store`, each verified against its name; returns index.json. */
async function importOciArchive(file: string, store: BlobStore, what: string): Promise<{ store: BlobStore; indexText: string }> {
  let indexText: string | undefined;
  try {
    const { extract, done } = await openTarFile(file);
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^\.\//, '');
      if (entry.header.type !== 'file') { entry.resume(); continue; }
      if (name === 'index.json') {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        indexText = Buffer.concat(chunks).toString('utf8');
        continue;
      }
      const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(name);
      const digest = m ? `${m[1]}:${m[2]}` : undefined;
      if (!digest || !isDigest(digest)) { entry.resume(); continue; }
      await store.putStream(entry as unknown as Readable, { digest, size: entry.header.size ?? 0 });
    }
    await done;
  } catch (err) {
    throw new OcimakeError('IMAGE_INVALID', `${what}: ${(err as Error).message}`, { cause: err, hint: 'the archive is corrupt or cut off; write it again' });
  }
  if (indexText === undefined) throw new OcimakeError('IMAGE_INVALID', `${what} has no index.json`);
  return { store, indexText };
}

function pickEntry(index: Index, tag: string | undefined, what: string): Descriptor {
  const tags = index.manifests.map((m) => m.annotations?.[REF_NAME]).filter(Boolean);
  const entries = tag ? index.manifests.filter((m) => m.annotations?.[REF_NAME] === tag) : index.manifests.filter((m) => !m.artifactType);
  if (entries.length === 0) throw new OcimakeError('IMAGE_NOT_FOUND', tag ? `${what}: no image tagged "${tag}"` : `${what} holds no image`, { hint: `tags: ${tags.join(', ') || 'none'}` });
  if (entries.length > 1) throw new OcimakeError('IMAGE_AMBIGUOUS', `${what} holds ${entries.length} images`, { hint: `name one: ${what.replace(/:[^/:]*$/, '')}:TAG (tags: ${tags.join(', ') || 'none'})` });
  return entries[0]!;
}

/** Pushes manifests and indexes depth first, children before parents, each by digest. */
class TreePusher {
  readonly #done = new Set<string>();
  constructor(readonly store: BlobStore, readonly what: string, readonly onEvent?: (e: PushEvent) => void) {}

  async bytes(desc: Descriptor): Promise<Buffer> {
    const b = await this.store.readBytes(desc.digest).catch((err: unknown) => {
      throw new OcimakeError('BLOB_UNKNOWN', `${this.what}: ${desc.digest} is missing`, { cause: err, hint: 'the layout is incomplete (a copy of one platform only?); write it again with every blob' });
    });
    if (sha256(b) !== desc.digest) throw new OcimakeError('DIGEST_INVALID', `${this.what}: ${desc.digest} does not match its digest`, { hint: 'the layout is corrupt or was tampered with' });
    return b;
  }

  async pushManifest(client: RegistryClient, repo: string, desc: Descriptor, depth: number): Promise<void> {
    const key = `${client.registry}/${repo}@${desc.digest}`;
    if (this.#done.has(key)) return;
    if (depth > 4) throw new OcimakeError('MANIFEST_INVALID', `${this.what}: indexes nested more than 4 deep`);
    const bytes = await this.bytes(desc);
    if (isIndexType(desc.mediaType)) {
      for (const child of parseIndex(bytes, this.what).manifests) await this.pushManifest(client, repo, child, depth + 1);
    } else {
      const m = parseManifest(bytes, this.what);
      for (const blob of [...m.layers, m.config]) {
        if (!(await this.store.has(blob.digest))) throw new OcimakeError('BLOB_UNKNOWN', `${this.what}: blob ${blob.digest} of manifest ${desc.digest} is missing`, { hint: 'the layout is incomplete (a copy of one platform only?); write it again with every blob' });
        await pushBlob(client, repo, blob, () => this.store.open(blob.digest as Digest), this.onEvent ? { onEvent: this.onEvent } : {});
      }
    }
    await putManifest(client, repo, desc.digest, bytes, desc.mediaType);
    this.#done.add(key);
  }
}
