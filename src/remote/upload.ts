import { Readable } from 'node:stream';
import { OcimakeError } from '../errors.js';
import type { Descriptor } from '../oci/schemas.js';
import { discard } from './bounded.js';
import { isRetryableStatus, isTransient, type RetryBudget } from './retry.js';
import { registryError, type RegistryClient, type RegistryResponse } from './transport.js';

/** Blobs from this size on upload in a PATCH session that resumes where the registry says it stopped. */
export const CHUNKED_UPLOAD_MIN = 4 << 20;

export interface Upload {
  client: RegistryClient;
  repo: string;
  desc: Descriptor;
  /** Opens the blob from its first byte; may be called again for every attempt. */
  open: () => Readable | Promise<Readable>;
  scopes: string[];
  /** The push's retry budget for this blob: every attempt of every session spends it. */
  budget: RetryBudget;
  chunkedMin: number;
}

/** Thrown inside an upload when the session must be given up and a new one started. */
class RestartSession extends Error {
  constructor(readonly reason: unknown) { super('restart the upload session'); }
}

/**
 * Uploads one blob (distribution spec "pushing blobs"): small ones as POST + PUT with the
 * body; large ones as POST + PATCH + PUT, where a PATCH cut off midway is resumed from the
 * offset the registry reports (`GET` on the session, `Range: 0-N`). A session the registry
 * lost, or a commit that failed, starts a new session; before that, a HEAD checks whether
 * the blob arrived after all. One budget bounds it all.
 */
export async function uploadBlob(u: Upload): Promise<void> {
  for (;;) {
    try {
      const location = await startSession(u);
      if (u.desc.size < u.chunkedMin) await putWhole(u, location);
      else await patchResumable(u, location);
      return;
    } catch (err) {
      const reason = err instanceof RestartSession ? err.reason : err;
      if (!(err instanceof RestartSession) && !isTransient(err)) throw err;
      const head = await u.client.request({ method: 'HEAD', path: `/v2/${u.repo}/blobs/${u.desc.digest}`, scopes: u.scopes, budget: u.budget }).catch(() => undefined);
      if (head) await discard(head.body);
      if (head?.status === 200) return;
      if (!(await u.budget.wait())) {
        if (reason instanceof OcimakeError) throw new OcimakeError(reason.code, `uploading ${u.desc.digest}: ${reason.message} (${u.budget.describe()})`, { cause: reason, ...(reason.hint ? { hint: reason.hint } : {}) });
        throw reason;
      }
    }
  }
}

async function startSession(u: Upload): Promise<string> {
  const start = await u.client.request({ method: 'POST', path: `/v2/${u.repo}/blobs/uploads/`, scopes: u.scopes, headers: { 'content-length': '0' }, budget: u.budget });
  if (start.status !== 202) throw await registryError(start, `starting the upload of ${u.desc.digest}`, u.client);
  await discard(start.body);
  const location = start.headers.location;
  if (!location) throw new OcimakeError('BLOB_UPLOAD_INVALID', `${u.client.registry} started an upload without a Location header`);
  return new URL(location, u.client.baseUrl).toString();
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.toString();
}

async function putWhole(u: Upload, location: string): Promise<void> {
  const res = await u.client.request({
    method: 'PUT', path: withDigest(location, u.desc.digest), scopes: u.scopes, budget: u.budget, retry: false,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(u.desc.size) },
    body: () => fromOffset(u, 0),
  });
  await finish(u, res);
}

async function patchResumable(u: Upload, first: string): Promise<void> {
  let location = first;
  let offset = 0;
  for (;;) {
    let res: RegistryResponse | undefined;
    try {
      res = await u.client.request({
        method: 'PATCH', path: location, scopes: u.scopes, budget: u.budget, retry: false,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(u.desc.size - offset), 'content-range': `${offset}-${u.desc.size - 1}` },
        body: () => fromOffset(u, offset),
      });
    } catch (err) {
      if (!isTransient(err)) throw err;
    }
    if (res && res.status === 202) {
      await discard(res.body);
      location = res.headers.location ? new URL(res.headers.location, u.client.baseUrl).toString() : location;
      break;
    }
    if (res && res.status !== 416 && !isRetryableStatus(res.status)) throw await registryError(res, `uploading ${u.desc.digest}`, u.client);
    if (res) await discard(res.body);
    // Ask the registry how much it kept, then go on from there.
    if (!(await u.budget.wait(res?.headers['retry-after']))) throw new OcimakeError('BLOB_UPLOAD_INVALID', `uploading ${u.desc.digest} to ${u.client.registry} kept failing (${u.budget.describe()})`);
    const st = await u.client.request({ method: 'GET', path: location, scopes: u.scopes, budget: u.budget });
    await discard(st.body);
    if (st.status !== 204) throw new RestartSession(await registryError(st, `asking for the state of the upload of ${u.desc.digest}`, u.client));
    const m = /^(?:bytes=)?0-(\d+)$/.exec(st.headers.range ?? '');
    offset = m ? Number(m[1]) + 1 : 0;
    if (offset > u.desc.size) throw new RestartSession(new OcimakeError('BLOB_UPLOAD_INVALID', `the registry holds more than ${u.desc.size} bytes of ${u.desc.digest}`));
    if (st.headers.location) location = new URL(st.headers.location, u.client.baseUrl).toString();
    if (offset === u.desc.size) break;
  }
  const res = await u.client.request({ method: 'PUT', path: withDigest(location, u.desc.digest), scopes: u.scopes, budget: u.budget, retry: false, headers: { 'content-length': '0' } });
  await finish(u, res);
}

async function finish(u: Upload, res: RegistryResponse): Promise<void> {
  if (res.status === 201 || res.status === 204) {
    await discard(res.body);
    return;
  }
  const err = await registryError(res, `uploading ${u.desc.digest}`, u.client);
  // A failed commit (a 5xx, or bytes that arrived damaged) is worth a new session.
  if (isRetryableStatus(res.status) || err.code === 'DIGEST_INVALID' || err.code === 'BLOB_UPLOAD_UNKNOWN' || err.code === 'BLOB_UPLOAD_INVALID') throw new RestartSession(err);
  throw err;
}

/** The blob from byte `offset` on (the bytes before it are read and dropped). */
function fromOffset(u: Upload, offset: number): Readable {
  return Readable.from((async function* () {
    let skip = offset;
    let sent = offset;
    for await (const c of await u.open()) {
      const b = c as Buffer;
      if (skip >= b.length) { skip -= b.length; continue; }
      const part = skip > 0 ? b.subarray(skip) : b;
      skip = 0;
      sent += part.length;
      u.client.moving({ direction: 'push', digest: u.desc.digest, bytes: sent, total: u.desc.size });
      yield part;
    }
  })());
}
