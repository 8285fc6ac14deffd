import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { startRegistry, type RegistryOptions, type RunningRegistry } from '../../registry/index.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { parseReference } from '../../src/oci/reference.js';
import { pushImage } from '../../src/remote/push.js';
import { pullImage, Remote } from '../../src/remote/registry-image.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { memoryImage, rawLayer } from '../helpers/layers.js';
import { tempDir } from '../helpers/tmp.js';
import { validateImage } from '../helpers/validate.js';
import { errorCode, req, sha } from './client.js';

// Issue 24: the embedded registry between users. Upload sessions are the state users share:
// a PATCH still streaming when its session is finished must not write into the published blob,
// and one user opening sessions must not cancel another's.

const basic = (u: string) => ({ authorization: `Basic ${Buffer.from(`${u}:pw-${u}`).toString('base64')}` });
const USERS = ['alice', 'bob', 'carol', 'dave'];
const auth = {
  users: Object.fromEntries([...USERS, 'mallory'].map((u) => [u, `pw-${u}`])),
  permissions: { ...Object.fromEntries(USERS.map((u) => [u, { pull: ['*'], push: [`${u}/*`] }])), mallory: { pull: ['mallory/*'], push: ['mallory/*'] } },
};

/** A PATCH whose body is still being sent: `more` writes to it, `end` finishes it and gives the status. */
function streamingPatch(base: string, location: string, headers: Record<string, string>): { more: (b: Buffer | string) => void; end: () => Promise<number> } {
  const url = new URL(location, base);
  const r = request(url, { method: 'PATCH', headers: { ...headers, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } });
  const status = new Promise<number>((resolve) => {
    r.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    r.on('error', () => resolve(0));
  });
  r.flushHeaders();
  return { more: (b) => r.write(b), end: () => { r.end(); return status; } };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each([['on disk (--root)', true], ['in memory', false]] as const)('the embedded registry between users, %s', (_name, onDisk) => {
  const open: RunningRegistry[] = [];
  const start = async (o: RegistryOptions = {}) => { const r = await startRegistry({ ...(onDisk ? { root: tempDir() } : {}), ...o }); open.push(r); return r; };
  afterAll(async () => { for (const r of open) await r.close(); });

  describe('when a PATCH is still streaming as its session is finished', () => {
    it('refuses the PUT, and nothing but the genuine bytes is ever served under the digest', async () => {
      const reg = await start({ auth });
      const genuine = 'the genuine layer bytes';
      const digest = sha(genuine);
      const m = basic('mallory');
      const loc = (await req(reg.url, 'POST', '/v2/mallory/x/blobs/uploads/', { headers: m })).headers.get('location')!;
      expect((await req(reg.url, 'PATCH', loc, { body: genuine, headers: { ...m, 'content-type': 'application/octet-stream' } })).status).toBe(202);
      const patch = streamingPatch(reg.url, loc, m);
      await wait(50);
      const put = await req(reg.url, 'PUT', `${loc}?digest=${digest}`, { headers: m });
      expect(put.status).toBe(400);
      expect(await errorCode(put)).toBe('BLOB_UPLOAD_INVALID');
      patch.more('poison: appended after the digest was checked');
      expect(await patch.end()).toBe(202);
      // The session now holds more than the genuine bytes: finishing it is refused.
      const late = await req(reg.url, 'PUT', `${loc}?digest=${digest}`, { headers: m });
      expect(await errorCode(late)).toBe('DIGEST_INVALID');
      // The blob was never published, so an honest user's upload of the genuine bytes stores them.
      const a = basic('alice');
      const up = await req(reg.url, 'POST', `/v2/alice/app/blobs/uploads/?digest=${digest}`, { body: genuine, headers: { ...a, 'content-type': 'application/octet-stream' } });
      expect(up.status).toBe(201);
      const got = await req(reg.url, 'GET', `/v2/alice/app/blobs/${digest}`, { headers: a });
      expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(digest);
    });

    it('refuses a second PATCH beside the first, so chunks never interleave', async () => {
      const reg = await start();
      const loc = (await req(reg.url, 'POST', '/v2/r/x/blobs/uploads/')).headers.get('location')!;
      const first = streamingPatch(reg.url, loc, {});
      first.more('one');
      await wait(50);
      const second = await req(reg.url, 'PATCH', loc, { body: 'two', headers: { 'content-type': 'application/octet-stream' } });
      expect(await errorCode(second)).toBe('BLOB_UPLOAD_INVALID');
      expect(await first.end()).toBe(202);
      expect((await req(reg.url, 'PUT', `${loc}?digest=${sha('one')}`)).status).toBe(201);
    });
  });

  describe('when one user floods upload sessions', () => {
    it('refuses that user new sessions (TOOMANYREQUESTS) and leaves every other upload alone', async () => {
      const reg = await start({ auth, maxUploads: 40, maxUploadsPerUser: 20 });
      const a = basic('alice');
      const loc = (await req(reg.url, 'POST', '/v2/alice/app/blobs/uploads/', { headers: a })).headers.get('location')!;
      expect((await req(reg.url, 'PATCH', loc, { body: 'half ', headers: { ...a, 'content-type': 'application/octet-stream' } })).status).toBe(202);
      const statuses: number[] = [];
      let code: string | undefined;
      for (let i = 0; i < 60; i++) {
        const r = await req(reg.url, 'POST', '/v2/mallory/x/blobs/uploads/', { headers: basic('mallory') });
        statuses.push(r.status);
        if (r.status === 429) code = await errorCode(r);
      }
      expect(statuses.filter((s) => s === 202)).toHaveLength(20);
      expect(statuses.filter((s) => s === 429)).toHaveLength(40);
      expect(code).toBe('TOOMANYREQUESTS');
      expect(reg.store.openUploads).toBe(21);
      // Alice's half-done upload goes on, and she can open more.
      expect((await req(reg.url, 'PATCH', loc, { body: 'done', headers: { ...a, 'content-type': 'application/octet-stream' } })).status).toBe(202);
      expect((await req(reg.url, 'PUT', `${loc}?digest=${sha('half done')}`, { headers: a })).status).toBe(201);
      expect((await req(reg.url, 'POST', '/v2/alice/app/blobs/uploads/', { headers: a })).status).toBe(202);
    });

    it('keeps each session to the user who opened it: another user with push on the repository is told it is unknown', async () => {
      const shared = { users: { alice: 'pw-alice', bob: 'pw-bob' }, permissions: { alice: { push: ['team/*'] }, bob: { push: ['team/*'] } } };
      const reg = await start({ auth: shared });
      const loc = (await req(reg.url, 'POST', '/v2/team/app/blobs/uploads/', { headers: basic('alice') })).headers.get('location')!;
      for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
        const r = await req(reg.url, method, method === 'PUT' ? `${loc}?digest=${sha('')}` : loc, { headers: basic('bob'), ...(method === 'PATCH' ? { body: 'x' } : {}) });
        expect(r.status, method).toBe(404);
        expect(await errorCode(r)).toBe('BLOB_UPLOAD_UNKNOWN');
      }
      expect((await req(reg.url, 'PUT', `${loc}?digest=${sha('')}`, { headers: basic('alice') })).status).toBe(201);
    });
  });

  describe('when several users push overlapping layers while a hostile user races them', () => {
    it('every honest image pulls back whole and verifies', async () => {
      const reg = await start({ auth, maxUploadsPerUser: 30 });
      const shared = [await rawLayer([{ name: 'shared/a', content: randomBytes(24_000).toString('hex') }]), await rawLayer([{ name: 'shared/b', content: 'b'.repeat(70_000) }])];
      const images = await Promise.all(USERS.map(async (u) => memoryImage([...shared, await rawLayer([{ name: `${u}/own`, content: `${u} `.repeat(5000) }])]).image));
      const creds = (u: string) => ({ credentials: async () => ({ username: u, password: `pw-${u}` }), chunkedUploadMin: 1024 });
      // Mallory knows the shared layers' digests and races PATCH/PUT on them, and floods sessions.
      const m = basic('mallory');
      let stop = false;
      const hostile = (async () => {
        let rounds = 0;
        while (!stop && rounds++ < 200) {
          for (const layer of shared) {
            const post = await req(reg.url, 'POST', '/v2/mallory/x/blobs/uploads/', { headers: m });
            const loc = post.headers.get('location');
            if (!loc) continue;
            await req(reg.url, 'PATCH', loc, { body: layer, headers: { ...m, 'content-type': 'application/octet-stream' } });
            const patch = streamingPatch(reg.url, loc, m);
            await req(reg.url, 'PUT', `${loc}?digest=${sha(layer)}`, { headers: m });
            patch.more('poison');
            await patch.end();
          }
        }
      })();
      const flood = (async () => { for (let i = 0; i < 100 && !stop; i++) await req(reg.url, 'POST', '/v2/mallory/flood/blobs/uploads/', { headers: m }); })();
      const pushed = await Promise.all(USERS.map((u, i) => pushImage(images[i]!, [parseReference(`${reg.host}/${u}/app:1`)], creds(u))));
      stop = true;
      await Promise.all([hostile, flood]);
      for (const [i, u] of USERS.entries()) {
        const pulled = await pullImage(new Remote(creds(u)), parseReference(`${reg.host}/${u}/app:1`), parsePlatform('linux/amd64'), new BlobStore(tempDir()));
        expect(pulled.digest).toBe(pushed[i]!.digest);
        expect(await validateImage(pulled.image)).toBe(3);
      }
    });
  });
});
