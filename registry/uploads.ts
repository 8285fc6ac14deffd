import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from './errors.js';
import { send } from './http-util.js';
import { checkDigest, checkName } from './names.js';
import type { RegistryStore } from './store.js';

function sessionHeaders(repo: string, id: string, size: number): Record<string, string> {
  return {
    location: `/v2/${repo}/blobs/uploads/${id}`,
    range: `0-${Math.max(0, size - 1)}`,
    'docker-upload-uuid': id,
  };
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** POST /v2/<name>/blobs/uploads/: a session, a monolithic upload (?digest=) or a mount (?mount=&from=). */
export async function startUpload(req: IncomingMessage, res: ServerResponse, store: RegistryStore, repo: string, url: URL, canPull: (repo: string) => boolean, owner: string): Promise<void> {
  const mount = url.searchParams.get('mount');
  const from = url.searchParams.get('from');
  if (mount && from) {
    checkDigest(mount);
    checkName(from);
    // Mounting reads `from`: without pull permission there, it is an ordinary upload (and
    // says nothing about whether the blob exists), as in distribution.
    if (canPull(from) && (await store.mount(repo, mount, from))) {
      return send(res, 201, { location: `/v2/${repo}/blobs/${mount}`, 'docker-content-digest': mount });
    }
  }
  const digest = url.searchParams.get('digest');
  if (digest) {
    checkDigest(digest);
    const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
    await store.putBlob(repo, req, digest, declared);
    return send(res, 201, { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest });
  }
  const id = await store.startUpload(repo, owner);
  send(res, 202, sessionHeaders(repo, id, 0));
}

/** GET/PATCH/PUT/DELETE /v2/<name>/blobs/uploads/<id>, by the user (`owner`) who opened it. */
export async function handleUpload(req: IncomingMessage, res: ServerResponse, store: RegistryStore, repo: string, id: string, url: URL, owner: string): Promise<void> {
  let size: number;
  try {
    size = await store.uploadSize(repo, id, owner);
  } catch (err) {
    req.resume();
    throw err;
  }
  switch (req.method) {
    case 'GET':
      return send(res, 204, sessionHeaders(repo, id, size));
    case 'DELETE':
      await store.cancelOwnUpload(repo, id, owner);
      return send(res, 204);
    case 'PATCH': {
      const cr = req.headers['content-range'];
      if (cr !== undefined) {
        const m = /^(?:bytes )?(\d+)-(\d+)$/.exec(cr.trim());
        if (!m || Number(m[1]) !== size) {
          req.resume();
          return send(res, 416, sessionHeaders(repo, id, size), new RegistryError('BLOB_UPLOAD_INVALID', `chunk starts at ${m?.[1] ?? '?'} but the upload holds ${size} bytes`).body());
        }
        const len = req.headers['content-length'];
        if (len !== undefined && Number(len) !== Number(m[2]) - Number(m[1]) + 1) {
          req.resume();
          throw new RegistryError('SIZE_INVALID', `Content-Range ${cr} does not match Content-Length ${len}`, { status: 416 });
        }
      }
      const newSize = await store.appendUpload(repo, id, owner, req).catch((err: unknown) => { req.resume(); throw err; });
      return send(res, 202, sessionHeaders(repo, id, newSize));
    }
    case 'PUT': {
      const digest = url.searchParams.get('digest');
      if (!digest) {
        req.resume();
        throw new RegistryError('DIGEST_INVALID', 'finishing an upload needs ?digest=');
      }
      checkDigest(digest);
      if (!hasBody(req)) req.resume();
      await store.finishUpload(repo, id, owner, digest, hasBody(req) ? req : undefined).catch((err: unknown) => { req.resume(); throw err; });
      return send(res, 201, { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest });
    }
    default:
      throw new RegistryError('UNSUPPORTED', `${req.method} is not allowed on uploads`, { status: 405 });
  }
}
