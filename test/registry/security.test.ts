import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { PasswordChecker } from '../../registry/password-check.js';
import { tempDir } from '../helpers/tmp.js';
import { errorCode, putBlob, putImage, req, sha } from './client.js';

// Issue 13, finding 4: the embedded registry under a multi-user threat model.

const basic = (u: string, p: string, scheme = 'Basic') => ({ authorization: `${scheme} ${Buffer.from(`${u}:${p}`).toString('base64')}` });

describe('the embedded registry, as a multi-user server', () => {
  const open: RunningRegistry[] = [];
  const start = async (o: Parameters<typeof startRegistry>[0] = {}) => { const r = await startRegistry(o); open.push(r); return r; };
  afterAll(async () => { for (const r of open) await r.close(); });

  describe('when clients send wrong passwords', () => {
    it('checks bcrypt off the event loop: a valid request is answered while six wrong ones are still being checked', async () => {
      const dir = tempDir();
      const file = join(dir, 'htpasswd');
      writeFileSync(file, `ci:${bcrypt.hashSync('right', 10)}\n`);
      const reg = await start({ auth: { htpasswd: file } });
      // Warm the success cache once.
      expect((await req(reg.url, 'GET', '/v2/', { headers: basic('ci', 'right') })).status).toBe(200);
      const order: string[] = [];
      const bad = Array.from({ length: 6 }, (_, i) => req(reg.url, 'GET', '/v2/', { headers: basic('ci', `wrong${i}`) }).then((r) => { order.push('bad'); return r.status; }));
      const good = req(reg.url, 'GET', '/v2/', { headers: basic('ci', 'right') }).then((r) => { order.push('good'); return r.status; });
      expect(await good).toBe(200);
      expect(await Promise.all(bad)).toEqual([401, 401, 401, 401, 401, 401]);
      // On the event loop, the six bcrypt checks would all run before the seventh request is read.
      expect(order.indexOf('good')).toBeLessThan(6);
    });

    it('spends a bcrypt on unknown users too (no user-name oracle) and remembers only successes', async () => {
      const checker = new PasswordChecker();
      try {
        const hash = bcrypt.hashSync('pw', 4);
        expect(await checker.check('nobody', 'x', undefined)).toBe(false);
        expect(checker.bcryptRuns).toBe(1);
        for (let i = 0; i < 20; i++) expect(await checker.check('known', `bad${i}`, hash)).toBe(false);
        expect(checker.remembered).toBe(0);
        expect(await checker.check('known', 'pw', hash)).toBe(true);
        expect(await checker.check('known', 'pw', hash)).toBe(true);
        expect(checker.bcryptRuns).toBe(22);
        expect(checker.remembered).toBe(1);
      } finally {
        await checker.close();
      }
    });

    it('takes the Basic scheme in any case, as RFC 7617 says', async () => {
      const reg = await start({ auth: { users: { u: 'p' } } });
      expect((await req(reg.url, 'GET', '/v2/', { headers: basic('u', 'p', 'basic') })).status).toBe(200);
      expect((await req(reg.url, 'GET', '/v2/', { headers: basic('u', 'p', 'BASIC') })).status).toBe(200);
    });
  });

  describe('when a pusher reaches for repositories it may not read', () => {
    const perms = { users: { alice: 'a', mallory: 'm' }, permissions: { alice: { push: ['alice/*'] }, mallory: { push: ['mallory/*'] } } };

    it('does not mount a blob from a repository the caller may not pull: the mount is an ordinary upload, whether or not the blob exists', async () => {
      const reg = await start({ auth: perms });
      const d = await fetch(`${reg.url}/v2/alice/secret/blobs/uploads/?digest=${sha('secret layer')}`, { method: 'POST', body: 'secret layer', headers: basic('alice', 'a') });
      expect(d.status).toBe(201);
      for (const digest of [sha('secret layer'), sha('absent')]) {
        const r = await req(reg.url, 'POST', `/v2/mallory/x/blobs/uploads/?mount=${digest}&from=alice/secret`, { headers: basic('mallory', 'm') });
        expect(r.status).toBe(202);
      }
      expect((await req(reg.url, 'HEAD', `/v2/mallory/x/blobs/${sha('secret layer')}`, { headers: basic('mallory', 'm') })).status).toBe(404);
      const own = await req(reg.url, 'POST', `/v2/alice/other/blobs/uploads/?mount=${sha('secret layer')}&from=alice/secret`, { headers: basic('alice', 'a') });
      expect(own.status).toBe(201);
    });

    it('lists in _catalog only what the caller may pull', async () => {
      const reg = await start({ auth: perms });
      await fetch(`${reg.url}/v2/alice/secret/blobs/uploads/?digest=${sha('x')}`, { method: 'POST', body: 'x', headers: basic('alice', 'a') });
      await fetch(`${reg.url}/v2/mallory/mine/blobs/uploads/?digest=${sha('y')}`, { method: 'POST', body: 'y', headers: basic('mallory', 'm') });
      const list = async (u: string, p: string) => ((await (await req(reg.url, 'GET', '/v2/_catalog', { headers: basic(u, p) })).json()) as { repositories: string[] }).repositories;
      expect(await list('mallory', 'm')).toEqual(['mallory/mine']);
      expect(await list('alice', 'a')).toEqual(['alice/secret']);
    });
  });

  describe('when clients try to exhaust memory or sessions', () => {
    it('refuses uploads past the in-memory cap, and holds no more than it', async () => {
      const reg = await start({ maxMemoryBytes: 1 << 20 });
      const post = await req(reg.url, 'POST', '/v2/big/blob/blobs/uploads/');
      const loc = post.headers.get('location')!;
      const r = await req(reg.url, 'PATCH', loc, { body: Buffer.alloc(3 << 20, 1), headers: { 'content-type': 'application/octet-stream' } });
      expect(r.status).toBe(413);
      expect(await errorCode(r)).toBe('SIZE_INVALID');
      expect((reg.store.backend as unknown as { totalBytes: number }).totalBytes).toBeLessThanOrEqual(1 << 20);
      // Smaller blobs still fit.
      await putBlob(reg.url, 'big/blob', 'small');
    });

    it('refuses new upload sessions past the cap (TOOMANYREQUESTS), and keeps the open ones', async () => {
      const reg = await start({ maxUploads: 10 });
      const first = (await req(reg.url, 'POST', '/v2/s/s/blobs/uploads/')).headers.get('location')!;
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await req(reg.url, 'POST', '/v2/s/s/blobs/uploads/')).status);
      expect(statuses.filter((s) => s === 429)).toHaveLength(21);
      expect(reg.store.openUploads).toBe(10);
      expect((await req(reg.url, 'GET', first)).status).toBe(204);
    });

    it('drops sessions idle past their lifetime, and so makes room again', async () => {
      const reg = await start({ maxUploads: 2, uploadTtlMs: 50 });
      const first = (await req(reg.url, 'POST', '/v2/s/s/blobs/uploads/')).headers.get('location')!;
      await req(reg.url, 'POST', '/v2/s/s/blobs/uploads/');
      expect((await req(reg.url, 'POST', '/v2/s/s/blobs/uploads/')).status).toBe(429);
      await new Promise((r) => setTimeout(r, 80));
      expect((await req(reg.url, 'POST', '/v2/s/s/blobs/uploads/')).status).toBe(202);
      expect((await req(reg.url, 'GET', first)).status).toBe(404);
    });
  });

  describe('when requests are malformed or racing', () => {
    it('never answers 500 with internals: two PUTs finishing one session, %zz in a name, layers: [null]', async () => {
      const root = tempDir();
      const reg = await start({ root });
      const loc = (await req(reg.url, 'POST', '/v2/r/a/blobs/uploads/')).headers.get('location')!;
      await req(reg.url, 'PATCH', loc, { body: 'data', headers: { 'content-type': 'application/octet-stream' } });
      const puts = await Promise.all(Array.from({ length: 5 }, () => req(reg.url, 'PUT', `${loc}?digest=${sha('data')}`)));
      const statuses = puts.map((p) => p.status).sort();
      expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
      for (const p of puts) {
        expect([201, 404]).toContain(p.status);
        expect(await p.text()).not.toContain(root);
      }
      const bad = await req(reg.url, 'GET', '/v2/a%zz/tags/list');
      expect(bad.status).toBe(400);
      expect(await errorCode(bad)).toBe('NAME_INVALID');
      const nul = await req(reg.url, 'PUT', '/v2/r/a/manifests/x', {
        body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('c'), size: 1 }, layers: [null] }),
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(nul.status).toBe(400);
      expect(await errorCode(nul)).toBe('MANIFEST_INVALID');
    });

    it('stores no percent-encoded names', async () => {
      const reg = await start();
      const r = await req(reg.url, 'POST', '/v2/a%41b/blobs/uploads/?digest=' + sha('z'), { body: 'z' });
      expect(r.status).toBe(400);
      expect(await errorCode(r)).toBe('NAME_INVALID');
    });

    it('asks for every layer that is not a non-distributable one, whatever `urls` it lists', async () => {
      const reg = await start();
      const config = await putBlob(reg.url, 'u/r', '{}');
      const manifest = (mediaType: string) => JSON.stringify({
        schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
        layers: [{ mediaType, digest: sha('elsewhere'), size: 9, urls: ['https://example.invalid/layer'] }],
      });
      const normal = await req(reg.url, 'PUT', '/v2/u/r/manifests/a', { body: manifest('application/vnd.oci.image.layer.v1.tar+gzip'), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      expect(normal.status).toBe(400);
      expect(await errorCode(normal)).toBe('MANIFEST_BLOB_UNKNOWN');
      const foreign = await req(reg.url, 'PUT', '/v2/u/r/manifests/b', { body: manifest('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      expect(foreign.status).toBe(201);
    });

    it('refuses deletes unless they are enabled, as distribution does', async () => {
      const reg = await start();
      const img = await putImage(reg.url, 'd/r', 't');
      const r = await req(reg.url, 'DELETE', `/v2/d/r/manifests/${img.digest}`);
      expect(r.status).toBe(405);
      expect(await errorCode(r)).toBe('UNSUPPORTED');
      expect((await req(reg.url, 'GET', '/v2/d/r/manifests/t')).status).toBe(200);
    });
  });
});
