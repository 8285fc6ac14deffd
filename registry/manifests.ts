import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from './errors.js';
import { readBody, send, sendJson } from './http-util.js';
import { isDigest, isTag } from './names.js';
import type { RegistryStore, StoredManifest } from './store.js';

const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
const MANIFEST_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];

interface ManifestJson {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: { digest?: string; mediaType?: string };
  layers?: { digest?: string; urls?: string[]; mediaType?: string }[];
  manifests?: { digest?: string }[];
  subject?: { digest?: string };
  annotations?: Record<string, string>;
}

const FOREIGN_LAYERS = new Set([
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

function parse(bytes: Buffer): ManifestJson {
  try {
    const j = JSON.parse(bytes.toString('utf8')) as unknown;
    if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('not an object');
    return j as ManifestJson;
  } catch (err) {
    throw new RegistryError('MANIFEST_INVALID', `manifest is not a JSON object: ${(err as Error).message}`);
  }
}

/** GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>. */
export async function handleManifest(req: IncomingMessage, res: ServerResponse, store: RegistryStore, repo: string, reference: string, maxBytes: number): Promise<void> {
  if (!isDigest(reference) && !isTag(reference)) throw new RegistryError('MANIFEST_INVALID', `"${reference}" is neither a tag nor a digest`, { status: 400 });
  switch (req.method) {
    case 'GET':
    case 'HEAD': {
      const m = await store.getManifest(repo, reference);
      if (!m) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is not in ${repo}`);
      const headers = { 'content-type': m.mediaType, 'docker-content-digest': m.digest, etag: `"${m.digest}"` };
      if (req.method === 'HEAD') return send(res, 200, { ...headers, 'content-length': m.bytes.length });
      return send(res, 200, headers, m.bytes);
    }
    case 'PUT':
      return putManifest(req, res, store, repo, reference, maxBytes);
    case 'DELETE': {
      const done = isDigest(reference) ? await store.deleteManifest(repo, reference) : await store.deleteTag(repo, reference);
      if (!done) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is not in ${repo}`);
      return send(res, 202);
    }
    default:
      throw new RegistryError('UNSUPPORTED', `${req.method} is not allowed on manifests`, { status: 405 });
  }
}

async function putManifest(req: IncomingMessage, res: ServerResponse, store: RegistryStore, repo: string, reference: string, maxBytes: number): Promise<void> {
  const bytes = await readBody(req, maxBytes);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (isDigest(reference) && reference !== digest) throw new RegistryError('DIGEST_INVALID', `manifest content has digest ${digest}, not ${reference}`);
  const j = parse(bytes);
  const header = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  const mediaType = j.mediaType ?? header;
  if (j.mediaType && header && header !== j.mediaType) throw new RegistryError('MANIFEST_INVALID', `Content-Type ${header} does not match the manifest's mediaType ${j.mediaType}`);
  if (j.schemaVersion !== 2) throw new RegistryError('MANIFEST_INVALID', 'schemaVersion must be 2');
  const isIndex = INDEX_TYPES.includes(mediaType) || (mediaType === '' && Array.isArray(j.manifests));
  const isImage = MANIFEST_TYPES.includes(mediaType) || (mediaType === '' && j.config !== undefined);
  if (!isIndex && !isImage) throw new RegistryError('MANIFEST_INVALID', `unsupported manifest media type "${mediaType}"`, { status: 400 });
  if (isImage) {
    if (!j.config?.digest || !Array.isArray(j.layers)) throw new RegistryError('MANIFEST_INVALID', 'an image manifest needs config and layers');
    const missing: string[] = [];
    if (j.layers.some((l) => typeof l !== 'object' || l === null || Array.isArray(l))) throw new RegistryError('MANIFEST_INVALID', 'every layer must be a descriptor object');
    // Only non-distributable ("foreign") layers may live elsewhere (their `urls`); any other
    // layer must be in the repository, whatever `urls` it lists.
    const local = j.layers.filter((l) => !(l.urls?.length && FOREIGN_LAYERS.has(l.mediaType ?? '')));
    for (const d of [j.config.digest, ...local.map((l) => l.digest ?? '')]) {
      if (!isDigest(d)) throw new RegistryError('MANIFEST_INVALID', `invalid digest "${d}" in manifest`);
      if ((await store.blobSize(repo, d)) === undefined) missing.push(d);
    }
    if (missing.length > 0) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `blobs not in ${repo}: ${missing.join(', ')}`, { detail: { missing } });
  } else {
    for (const m of j.manifests ?? []) {
      if (!m.digest || !isDigest(m.digest)) throw new RegistryError('MANIFEST_INVALID', 'index entry without a valid digest');
      if (!(await store.getManifest(repo, m.digest))) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest ${m.digest} named by the index is not in ${repo}`, { detail: { missing: [m.digest] } });
    }
  }
  await store.putManifest(repo, bytes, digest, mediaType || (isIndex ? INDEX_TYPES[0]! : MANIFEST_TYPES[0]!), isDigest(reference) ? undefined : reference);
  const headers: Record<string, string> = { location: `/v2/${repo}/manifests/${digest}`, 'docker-content-digest': digest };
  if (j.subject?.digest) headers['oci-subject'] = j.subject.digest;
  send(res, 201, headers);
}

/** GET /v2/<name>/referrers/<digest>: an index of the manifests whose subject is `digest`. */
export async function handleReferrers(res: ServerResponse, store: RegistryStore, repo: string, digest: string, url: URL): Promise<void> {
  if (!isDigest(digest)) throw new RegistryError('DIGEST_INVALID', `invalid digest "${digest}"`);
  const filter = url.searchParams.get('artifactType');
  const manifests = (await store.manifests(repo)).map((m) => ({ m, j: parse(m.bytes) })).filter(({ j }) => j.subject?.digest === digest);
  const descriptors = manifests
    .map(({ m, j }) => descriptor(m, j))
    .filter((d) => !filter || d.artifactType === filter)
    .sort((a, b) => (a.digest < b.digest ? -1 : 1));
  const headers: Record<string, string> = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
  if (filter) headers['oci-filters-applied'] = 'artifactType';
  send(res, 200, headers, JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: descriptors }));
}

function descriptor(m: StoredManifest, j: ManifestJson): { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> } {
  const d: { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> } = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
  const at = j.artifactType ?? j.config?.mediaType;
  if (at) d.artifactType = at;
  if (j.annotations) d.annotations = j.annotations;
  return d;
}

export { sendJson };
