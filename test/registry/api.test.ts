import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { errorCode, putBlob, putImage, req, sha } from './client.js';

describe('embedded registry: the distribution API', () => {
  let reg: RunningRegistry;
  let base: string;
  beforeAll(async () => { reg = await startRegistry({ deletes: true }); base = reg.url; });
  afterAll(async () => reg.close());

  it('answers GET /v2/ with the API version header', async () => {
    const r = await req(base, 'GET', '/v2/');
    expect(r.status).toBe(200);
    expect(r.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  describe('manifests', () => {
    it('stores exact bytes and media type, by tag and by digest, with GET and HEAD', async () => {
      const img = await putImage(base, 'm/one', 'v1');
      for (const ref of ['v1', img.digest]) {
        const g = await req(base, 'GET', `/v2/m/one/manifests/${ref}`);
        expect(g.status).toBe(200);
        expect(await g.text()).toBe(img.bytes);
        expect(g.headers.get('content-type')).toBe('application/vnd.oci.image.manifest.v1+json');
        expect(g.headers.get('docker-content-digest')).toBe(img.digest);
        const h = await req(base, 'HEAD', `/v2/m/one/manifests/${ref}`);
        expect(h.status).toBe(200);
        expect(h.headers.get('content-length')).toBe(String(Buffer.byteLength(img.bytes)));
      }
    });

    it('keeps Docker v2s2 media types', async () => {
      const config = await putBlob(base, 'm/docker', '{}');
      const bytes = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config, size: 2 }, layers: [] });
      expect((await req(base, 'PUT', '/v2/m/docker/manifests/x', { body: bytes, headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' } })).status).toBe(201);
      expect((await req(base, 'GET', '/v2/m/docker/manifests/x')).headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    });

    it('refuses a manifest naming blobs the repository lacks (MANIFEST_BLOB_UNKNOWN)', async () => {
      const bytes = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'x', digest: sha('nope'), size: 4 }, layers: [] });
      const r = await req(base, 'PUT', '/v2/m/missing/manifests/v1', { body: bytes, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      expect(r.status).toBe(400);
      expect(await errorCode(r)).toBe('MANIFEST_BLOB_UNKNOWN');
      expect((await req(base, 'GET', '/v2/m/missing/manifests/v1')).status).toBe(404);
    });

    it('refuses an index naming unknown manifests, and accepts a complete one', async () => {
      const img = await putImage(base, 'm/idx', 'amd');
      const index = (d: string) => JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: 1, platform: { os: 'linux', architecture: 'amd64' } }] });
      const h = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
      expect(await errorCode(await req(base, 'PUT', '/v2/m/idx/manifests/all', { body: index(sha('x')), headers: h }))).toBe('MANIFEST_BLOB_UNKNOWN');
      expect((await req(base, 'PUT', '/v2/m/idx/manifests/all', { body: index(img.digest), headers: h })).status).toBe(201);
    });

    it('checks a PUT by digest (DIGEST_INVALID) and rejects bad JSON (MANIFEST_INVALID)', async () => {
      const r = await req(base, 'PUT', `/v2/m/bad/manifests/${sha('other')}`, { body: '{"schemaVersion":2,"config":{},"layers":[]}', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      expect(await errorCode(r)).toBe('DIGEST_INVALID');
      expect(await errorCode(await req(base, 'PUT', '/v2/m/bad/manifests/t', { body: 'not json', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } }))).toBe('MANIFEST_INVALID');
    });

    it('caps manifest size', async () => {
      const r = await req(base, 'PUT', '/v2/m/big/manifests/t', { body: Buffer.alloc(5 * 2 ** 20, 32), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      expect(r.status).toBe(413);
      expect(await errorCode(r)).toBe('SIZE_INVALID');
    });

    it('deletes by tag and by digest; unknown ones are MANIFEST_UNKNOWN', async () => {
      const img = await putImage(base, 'm/del', 'a');
      expect((await req(base, 'DELETE', '/v2/m/del/manifests/a')).status).toBe(202);
      expect((await req(base, 'GET', '/v2/m/del/manifests/a')).status).toBe(404);
      expect((await req(base, 'DELETE', `/v2/m/del/manifests/${img.digest}`)).status).toBe(202);
      const r = await req(base, 'GET', `/v2/m/del/manifests/${img.digest}`);
      expect(await errorCode(r)).toBe('MANIFEST_UNKNOWN');
    });
  });

  describe('blobs', () => {
    it('serves GET, HEAD and Range, and 404s blobs of other repositories (BLOB_UNKNOWN)', async () => {
      const d = await putBlob(base, 'b/one', '0123456789');
      expect(await (await req(base, 'GET', `/v2/b/one/blobs/${d}`)).text()).toBe('0123456789');
      const h = await req(base, 'HEAD', `/v2/b/one/blobs/${d}`);
      expect(h.headers.get('content-length')).toBe('10');
      expect(h.headers.get('docker-content-digest')).toBe(d);
      const part = await req(base, 'GET', `/v2/b/one/blobs/${d}`, { headers: { range: 'bytes=2-5' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe('bytes 2-5/10');
      expect(await part.text()).toBe('2345');
      expect((await req(base, 'GET', `/v2/b/one/blobs/${d}`, { headers: { range: 'bytes=20-30' } })).status).toBe(416);
      const other = await req(base, 'GET', `/v2/b/two/blobs/${d}`);
      expect(other.status).toBe(404);
      expect(await errorCode(other)).toBe('BLOB_UNKNOWN');
    });

    it('deletes a blob from a repository', async () => {
      const d = await putBlob(base, 'b/del', 'gone');
      expect((await req(base, 'DELETE', `/v2/b/del/blobs/${d}`)).status).toBe(202);
      expect((await req(base, 'HEAD', `/v2/b/del/blobs/${d}`)).status).toBe(404);
    });

    it('refuses malformed digests and names', async () => {
      expect(await errorCode(await req(base, 'GET', '/v2/b/one/blobs/sha256:xyz'))).toBe('DIGEST_INVALID');
      expect(await errorCode(await req(base, 'GET', '/v2/Bad_Name/tags/list'))).toBe('NAME_INVALID');
      expect(await errorCode(await req(base, 'GET', '/v2/nobody/here/tags/list'))).toBe('NAME_UNKNOWN');
    });
  });

  describe('uploads', () => {
    const data = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789');

    it('accepts chunks split at awkward offsets, reports status, and verifies the digest', async () => {
      const start = await req(base, 'POST', '/v2/u/chunks/blobs/uploads/');
      expect(start.status).toBe(202);
      expect(start.headers.get('range')).toBe('0-0');
      let loc = start.headers.get('location')!;
      expect(start.headers.get('docker-upload-uuid')).toBeTruthy();
      let off = 0;
      for (const n of [1, 2, 13, 1, 19]) {
        const chunk = data.subarray(off, off + n);
        const r = await req(base, 'PATCH', loc, { body: chunk, headers: { 'content-range': `${off}-${off + n - 1}`, 'content-type': 'application/octet-stream' } });
        expect(r.status).toBe(202);
        expect(r.headers.get('range')).toBe(`0-${off + n - 1}`);
        loc = r.headers.get('location')!;
        off += n;
      }
      const status = await req(base, 'GET', loc);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${off - 1}`);
      const done = await req(base, 'PUT', `${loc}?digest=${sha(data)}`);
      expect(done.status).toBe(201);
      expect(done.headers.get('location')).toBe(`/v2/u/chunks/blobs/${sha(data)}`);
      expect(await (await req(base, 'GET', `/v2/u/chunks/blobs/${sha(data)}`)).text()).toBe(data.toString());
    });

    it('rejects an out-of-order chunk with 416', async () => {
      const loc = (await req(base, 'POST', '/v2/u/ooo/blobs/uploads/')).headers.get('location')!;
      await req(base, 'PATCH', loc, { body: 'abc', headers: { 'content-range': '0-2' } });
      const r = await req(base, 'PATCH', loc, { body: 'xyz', headers: { 'content-range': '5-7' } });
      expect(r.status).toBe(416);
      expect(r.headers.get('range')).toBe('0-2');
    });

    it('refuses a wrong digest on completion and keeps nothing', async () => {
      const loc = (await req(base, 'POST', '/v2/u/wrong/blobs/uploads/')).headers.get('location')!;
      const r = await req(base, 'PUT', `${loc}?digest=${sha('something else')}`, { body: 'content' });
      expect(await errorCode(r)).toBe('DIGEST_INVALID');
      expect((await req(base, 'HEAD', `/v2/u/wrong/blobs/${sha('content')}`)).status).toBe(404);
      expect((await req(base, 'HEAD', `/v2/u/wrong/blobs/${sha('something else')}`)).status).toBe(404);
    });

    it('accepts a monolithic POST ?digest= and a POST then single PUT', async () => {
      expect(await putBlob(base, 'u/mono', 'whole')).toBe(sha('whole'));
      const loc = (await req(base, 'POST', '/v2/u/two/blobs/uploads/')).headers.get('location')!;
      expect((await req(base, 'PUT', `${loc}?digest=${sha('one put')}`, { body: 'one put', headers: { 'content-type': 'application/octet-stream' } })).status).toBe(201);
    });

    it('forgets cancelled and unknown uploads (BLOB_UPLOAD_UNKNOWN)', async () => {
      const loc = (await req(base, 'POST', '/v2/u/cancel/blobs/uploads/')).headers.get('location')!;
      expect((await req(base, 'DELETE', loc)).status).toBe(204);
      expect(await errorCode(await req(base, 'GET', loc))).toBe('BLOB_UPLOAD_UNKNOWN');
      expect(await errorCode(await req(base, 'GET', '/v2/u/cancel/blobs/uploads/00000000-0000-0000-0000-000000000000'))).toBe('BLOB_UPLOAD_UNKNOWN');
    });

    it('mounts a blob from another repository, and falls back to an upload session', async () => {
      const d = await putBlob(base, 'u/src', 'shared layer');
      const m = await req(base, 'POST', `/v2/u/dst/blobs/uploads/?mount=${d}&from=u/src`);
      expect(m.status).toBe(201);
      expect(m.headers.get('docker-content-digest')).toBe(d);
      expect((await req(base, 'HEAD', `/v2/u/dst/blobs/${d}`)).status).toBe(200);
      const miss = await req(base, 'POST', `/v2/u/dst2/blobs/uploads/?mount=${sha('absent')}&from=u/src`);
      expect(miss.status).toBe(202);
    });
  });

  it('answers methods an endpoint does not take with UNSUPPORTED', async () => {
    const r = await req(base, 'PUT', '/v2/u/x/blobs/uploads/');
    expect(r.status).toBe(405);
    expect(await errorCode(r)).toBe('UNSUPPORTED');
  });

  describe('listing', () => {
    it('paginates tags with n and last, and a Link header', async () => {
      for (const t of ['c', 'a', 'e', 'b', 'd']) await putImage(base, 'l/tags', t);
      const p1 = await req(base, 'GET', '/v2/l/tags/tags/list?n=2');
      expect(await p1.json()).toEqual({ name: 'l/tags', tags: ['a', 'b'] });
      expect(p1.headers.get('link')).toBe('</v2/l/tags/tags/list?n=2&last=b>; rel="next"');
      const p3 = await req(base, 'GET', '/v2/l/tags/tags/list?n=2&last=d');
      expect(await p3.json()).toEqual({ name: 'l/tags', tags: ['e'] });
      expect(p3.headers.get('link')).toBeNull();
      expect(((await (await req(base, 'GET', '/v2/l/tags/tags/list')).json()) as { tags: string[] }).tags).toEqual(['a', 'b', 'c', 'd', 'e']);
    });

    it('lists repositories in _catalog with pagination', async () => {
      const all = ((await (await req(base, 'GET', '/v2/_catalog')).json()) as { repositories: string[] }).repositories;
      expect(all).toContain('l/tags');
      expect(all).toEqual([...all].sort());
      const page = await req(base, 'GET', '/v2/_catalog?n=1');
      expect(((await page.json()) as { repositories: string[] }).repositories).toHaveLength(1);
      expect(page.headers.get('link')).toMatch(/rel="next"/);
    });
  });

  describe('referrers (OCI 1.1)', () => {
    it('lists manifests whose subject is a digest, with artifactType filtering and OCI-Subject', async () => {
      const subject = await putImage(base, 'r/app', 'v1');
      const subj = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject.digest, size: Buffer.byteLength(subject.bytes) };
      const empty = await putBlob(base, 'r/app', '{}');
      const put = async (artifactType: string, tag: string) => {
        const bytes = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }, layers: [], subject: subj, annotations: { kind: tag } });
        const r = await req(base, 'PUT', `/v2/r/app/manifests/${tag}`, { body: bytes, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
        expect(r.status).toBe(201);
        expect(r.headers.get('oci-subject')).toBe(subject.digest);
      };
      await put('application/vnd.dev.sigstore.bundle.v0.3+json', 'sig');
      await put('application/spdx+json', 'sbom');
      const all = await req(base, 'GET', `/v2/r/app/referrers/${subject.digest}`);
      expect(all.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
      const idx = (await all.json()) as { manifests: { artifactType: string; annotations: Record<string, string> }[] };
      expect(idx.manifests.map((m) => m.artifactType).sort()).toEqual(['application/spdx+json', 'application/vnd.dev.sigstore.bundle.v0.3+json']);
      const filtered = await req(base, 'GET', `/v2/r/app/referrers/${subject.digest}?artifactType=${encodeURIComponent('application/spdx+json')}`);
      expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
      expect(((await filtered.json()) as { manifests: unknown[] }).manifests).toHaveLength(1);
      const none = (await (await req(base, 'GET', `/v2/r/app/referrers/${sha('none')}`)).json()) as { manifests: unknown[] };
      expect(none.manifests).toEqual([]);
    });
  });
});
