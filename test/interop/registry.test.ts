import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alpineLayout, type AlpineLayout } from '../helpers/alpine-images.js';
import { requireTools, run, startDistribution, startOcimakeRegistry, type Distribution, type ServedRegistry } from './tools.js';

// Issue 4: real clients no one here wrote (skopeo, buildah, umoci, the distribution
// registry) against `ocimake registry serve`.


describe('ocimake registry serve with real clients', () => {
  let work: string;
  let reg: ServedRegistry;
  let layout: AlpineLayout;

  beforeAll(async () => {
    requireTools('skopeo', 'umoci', 'buildah', 'docker-registry');
    work = mkdtempSync(join(tmpdir(), 'ocimake-reg-interop-'));
    layout = alpineLayout(join(work, 'alpine-layout'));
    reg = await startOcimakeRegistry(['--root', join(work, 'root')]);
    run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout.dir}`, `docker://${reg.host}/library/alpine:3`]);
  });

  afterAll(async () => {
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('takes skopeo copy --all of the multi-platform alpine:3 and serves every blob byte-identical', async () => {
    const blobs = readdirSync(join(layout.dir, 'blobs', 'sha256'));
    expect(blobs.sort()).toEqual([...layout.blobs].sort());
    for (const hex of blobs) {
      const want = readFileSync(join(layout.dir, 'blobs', 'sha256', hex));
      const isManifest = want.length < 4096 && /"mediaType":\s*"application\/vnd\.docker\.distribution\.manifest/.test(want.toString('latin1'));
      const path = isManifest ? `/v2/library/alpine/manifests/sha256:${hex}` : `/v2/library/alpine/blobs/sha256:${hex}`;
      const res = await fetch(`${reg.url}${path}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json' } });
      expect(res.status, path).toBe(200);
      const got = Buffer.from(await res.arrayBuffer());
      expect(createHash('sha256').update(got).digest('hex')).toBe(hex);
      expect(got.equals(want)).toBe(true);
    }
  });

  it('lets skopeo inspect it and copy it all back out with the same digests', async () => {
    const info = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/library/alpine:3`])) as { Digest: string };
    expect(info.Digest).toBe(layout.listDigest);
    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/library/alpine:3`])) as { manifests: unknown[] };
    expect(raw.manifests).toHaveLength(2);
    const dist: Distribution = await startDistribution(join(work, 'distribution'));
    try {
      run('skopeo', ['copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/library/alpine:3`, `docker://${dist.host}/library/alpine:3`]);
      const back = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${dist.host}/library/alpine:3`])) as { Digest: string };
      expect(back.Digest).toBe(layout.listDigest);
    } finally {
      await dist.stop();
    }
  });

  it('works with buildah pull and buildah push', () => {
    const b = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
    run('buildah', [...b, 'pull', '--tls-verify=false', `docker://${reg.host}/library/alpine:3`]);
    run('buildah', [...b, 'push', '--tls-verify=false', `${reg.host}/library/alpine:3`, `docker://${reg.host}/pushed/alpine:buildah`]);
    const tags = JSON.parse(run('skopeo', ['list-tags', '--tls-verify=false', `docker://${reg.host}/pushed/alpine`])) as { Tags: string[] };
    expect(tags.Tags).toEqual(['buildah']);
  });

  it('serves HTTPS with --tls-cert/--tls-key', async () => {
    const cert = join(work, 'tls-cert.pem');
    const key = join(work, 'tls-key.pem');
    run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const tls = await startOcimakeRegistry(['--tls-cert', cert, '--tls-key', key]);
    try {
      expect(tls.url).toMatch(/^https:/);
      run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--override-os', 'linux', '--override-arch', 'amd64', `docker://${reg.host}/library/alpine:3`, `docker://${tls.host}/tls/alpine:3`]);
      const info = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${tls.host}/tls/alpine:3`])) as { Architecture: string };
      expect(info.Architecture).toBe('amd64');
    } finally {
      await tls.stop();
    }
  });

  it('serves images umoci can unpack', () => {
    const layout = join(work, 'umoci-layout');
    run('skopeo', ['copy', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', 'amd64', `docker://${reg.host}/library/alpine:3`, `oci:${layout}:a`]);
    const bundle = join(work, 'bundle');
    run('umoci', ['unpack', '--image', `${layout}:a`, bundle]);
    expect(existsSync(join(bundle, 'rootfs', 'bin', 'busybox'))).toBe(true);
    expect(readFileSync(join(bundle, 'rootfs', 'etc', 'alpine-release'), 'utf8').trim()).toBe('3.20.3');
  });
});
