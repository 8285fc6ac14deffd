import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from './errors.js';
import { parseRange, send } from './http-util.js';
import { checkDigest } from './names.js';
import type { RegistryStore } from './store.js';

export interface BlobStats { blobGets: number; blobGetsByDigest: Map<string, number> }

/** GET/HEAD/DELETE /v2/<name>/blobs/<digest>, with Range support on GET. */
export async function handleBlob(req: IncomingMessage, res: ServerResponse, store: RegistryStore, repo: string, digest: string, stats: BlobStats): Promise<void> {
  checkDigest(digest);
  const size = await store.blobSize(repo, digest);
  if (req.method === 'DELETE') {
    if (!(await store.unlinkBlob(repo, digest))) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in ${repo}`);
    return send(res, 202);
  }
  if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in ${repo}`);
  const headers = { 'docker-content-digest': digest, 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', etag: `"${digest}"` };
  if (req.method === 'HEAD') return send(res, 200, { ...headers, 'content-length': size });
  if (req.method !== 'GET') throw new RegistryError('UNSUPPORTED', `${req.method} is not allowed on blobs`, { status: 405 });
  const range = size === 0 ? undefined : parseRange(req.headers.range, size);
  stats.blobGets++;
  stats.blobGetsByDigest.set(digest, (stats.blobGetsByDigest.get(digest) ?? 0) + 1);
  const stream = await store.openBlob(digest, range);
  if (!stream) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is missing from storage`);
  if (range) {
    res.writeHead(206, { ...headers, 'content-length': range.end - range.start + 1, 'content-range': `bytes ${range.start}-${range.end}/${size}` });
  } else {
    res.writeHead(200, { ...headers, 'content-length': size });
  }
  await pipeline(stream, res);
}
