import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry/index.js';
import { tempDir } from '../helpers/tmp.js';
import { errorCode, putBlob, putImage, req } from './client.js';

describe('embedded registry: directory storage', () => {
  it('keeps blobs, manifests and tags across a restart on the same root', async () => {
    const root = tempDir();
    const a = await startRegistry({ root });
    const img = await putImage(a.url, 'keep/me', 'v1');
    await a.close();
    const b = await startRegistry({ root });
    try {
      const m = await req(b.url, 'GET', '/v2/keep/me/manifests/v1');
      expect(await m.text()).toBe(img.bytes);
      expect((await req(b.url, 'HEAD', `/v2/keep/me/blobs/${img.layer}`)).status).toBe(200);
      expect(((await (await req(b.url, 'GET', '/v2/_catalog')).json()) as { repositories: string[] }).repositories).toEqual(['keep/me']);
    } finally {
      await b.close();
    }
  });

  it('survives concurrent pushes of the same blob and tag', async () => {
    const reg = await startRegistry({ root: tempDir() });
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => putImage(reg.url, 'race/x', 'same')));
      expect(new Set(results.map((r) => r.digest)).size).toBe(1);
      expect((await req(reg.url, 'GET', '/v2/race/x/manifests/same')).status).toBe(200);
    } finally {
      await reg.close();
    }
  });
});

describe('embedded registry: auth', () => {
  describe('with basic auth from an htpasswd file (bcrypt)', () => {
    it('refuses anonymous requests with a Basic challenge and accepts valid credentials', async () => {
      const dir = tempDir();
      const file = join(dir, 'htpasswd');
      writeFileSync(file, `alice:${bcrypt.hashSync('wonder', 4)}\nbob:{SHA}${Buffer.from(await crypto.subtle.digest('SHA-1', new TextEncoder().encode('builder'))).toString('base64')}\n`);
      const reg = await startRegistry({ auth: { htpasswd: file } });
      try {
        const anon = await req(reg.url, 'GET', '/v2/');
        expect(anon.status).toBe(401);
        expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
        expect(await errorCode(anon)).toBe('UNAUTHORIZED');
        const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
        expect((await req(reg.url, 'GET', '/v2/', { headers: basic('alice', 'wonder') })).status).toBe(200);
        expect((await req(reg.url, 'GET', '/v2/', { headers: basic('bob', 'builder') })).status).toBe(200);
        expect((await req(reg.url, 'GET', '/v2/', { headers: basic('alice', 'nope') })).status).toBe(401);
      } finally {
        await reg.close();
      }
    });

    it('enforces per-repository pull and push permissions (DENIED)', async () => {
      const reg = await startRegistry({ auth: { users: { dev: 'pw', ro: 'pw' }, permissions: { dev: { push: ['team/*'] }, ro: { pull: ['team/*'] } } } });
      const h = (u: string) => ({ authorization: `Basic ${Buffer.from(`${u}:pw`).toString('base64')}` });
      try {
        expect((await req(reg.url, 'POST', '/v2/team/app/blobs/uploads/', { headers: h('dev') })).status).toBe(202);
        const denied = await req(reg.url, 'POST', '/v2/team/app/blobs/uploads/', { headers: h('ro') });
        expect(denied.status).toBe(403);
        expect(await errorCode(denied)).toBe('DENIED');
        expect((await req(reg.url, 'GET', '/v2/team/app/tags/list', { headers: h('ro') })).status).not.toBe(403);
        expect((await req(reg.url, 'GET', '/v2/other/app/tags/list', { headers: h('ro') })).status).toBe(403);
      } finally {
        await reg.close();
      }
    });
  });

  describe('with token auth', () => {
    it('sends a Bearer challenge with the scope, issues scoped tokens at /token, and accepts them', async () => {
      const reg = await startRegistry({ auth: { users: { ci: 'secret' }, realm: 'token' } });
      try {
        const first = await req(reg.url, 'GET', '/v2/tok/app/tags/list');
        expect(first.status).toBe(401);
        const challenge = first.headers.get('www-authenticate') ?? '';
        expect(challenge).toBe(`Bearer realm="${reg.url}/token",service="ocimake-registry",scope="repository:tok/app:pull"`);
        const basic = { authorization: `Basic ${Buffer.from('ci:secret').toString('base64')}` };
        expect((await req(reg.url, 'GET', '/token?service=ocimake-registry&scope=repository:tok/app:pull')).status).toBe(401);
        const tok = (await (await req(reg.url, 'GET', '/token?service=ocimake-registry&scope=repository:tok/app:pull', { headers: basic })).json()) as { token: string; access_token: string; expires_in: number };
        expect(tok.token).toBe(tok.access_token);
        const bearer = { authorization: `Bearer ${tok.token}` };
        expect((await req(reg.url, 'POST', '/v2/tok/app/blobs/uploads/', { headers: bearer })).status).toBe(401); // pull-only token
        const push = (await (await req(reg.url, 'GET', '/token?scope=repository:tok/app:pull,push', { headers: basic })).json()) as { token: string };
        const d = await putBlobWith(reg.url, 'tok/app', 'x', { authorization: `Bearer ${push.token}` });
        expect((await req(reg.url, 'HEAD', `/v2/tok/app/blobs/${d}`, { headers: { authorization: `Bearer ${push.token}` } })).status).toBe(200);
        expect((await req(reg.url, 'GET', '/v2/tok/app/tags/list', { headers: { authorization: `Bearer ${tok.token}x` } })).status).toBe(401);
      } finally {
        await reg.close();
      }
    });
  });
});

async function putBlobWith(base: string, repo: string, data: string, headers: Record<string, string>): Promise<string> {
  const { sha } = await import('./client.js');
  const d = sha(data);
  const r = await req(base, 'POST', `/v2/${repo}/blobs/uploads/?digest=${d}`, { body: data, headers });
  expect(r.status).toBe(201);
  return d;
}

describe('ocimake registry serve', () => {
  it('prints the address it bound, serves, logs requests and stops on SIGTERM', async () => {
    // The command runs through the CLI entry point in this process; SIGTERM is emitted to it.
    const { main } = await import('../../src/cli/main.js');
    let out = '';
    let err = '';
    const ow = process.stdout.write.bind(process.stdout);
    const ew = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string) => { out += s; return true; }) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => { err += s; return true; }) as typeof process.stderr.write;
    const running = main(['registry', 'serve', '--addr', '127.0.0.1:0', '--log', '--root', tempDir()]);
    try {
      for (let i = 0; i < 100 && !out.includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await putBlob(url!, 'served/x', 'hello');
      expect(err).toMatch(/POST \/v2\/served\/x\/blobs\/uploads\/\?digest=sha256:[0-9a-f]+ 201/);
      process.emit('SIGTERM');
      expect(await running).toBe(0);
    } finally {
      process.stdout.write = ow;
      process.stderr.write = ew;
    }
  });
});

describe('embedded registry: export to an OCI image layout', () => {
  it('writes every tag with all its blobs, readable as a layout', async () => {
    const { exportLayout } = await import('../../registry/index.js');
    const { openOciLayout } = await import('../../src/layout/local-image.js');
    const reg = await startRegistry();
    try {
      const a = await putImage(reg.url, 'exp/app', 'v1');
      await putImage(reg.url, 'exp/app', 'v2');
      const dir = tempDir();
      expect(await exportLayout(reg.store, 'exp/app', dir)).toEqual({ tags: 2, blobs: 6 });
      const opened = await openOciLayout(dir, 'v1', { os: 'linux', architecture: 'amd64' });
      expect(opened.digest).toBe(a.digest);
    } finally {
      await reg.close();
    }
  });
});

describe('embedded registry: size limits', () => {
  it('refuses a blob over the limit without holding it in memory', async () => {
    const reg = await startRegistry({ maxBlobBytes: 1024 });
    try {
      const big = Buffer.alloc(4096, 1);
      const { sha } = await import('./client.js');
      const r = await req(reg.url, 'POST', `/v2/lim/x/blobs/uploads/?digest=${sha(big)}`, { body: big });
      expect(r.status).toBe(413);
      expect(await errorCode(r)).toBe('SIZE_INVALID');
      const loc = (await req(reg.url, 'POST', '/v2/lim/x/blobs/uploads/')).headers.get('location')!;
      const p = await req(reg.url, 'PATCH', loc, { body: big });
      expect(await errorCode(p)).toBe('SIZE_INVALID');
    } finally {
      await reg.close();
    }
  });
});
