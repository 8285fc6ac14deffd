import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoServer } from './go-server.js';
import { startTokenIssuer } from './token-issuer.js';
import { alpineLayout, MINIROOTFS, type AlpineLayout } from '../helpers/alpine-images.js';
import { freePort, requireTools, run, runOcimake, runOcimakeAsync, startDistribution, type Distribution } from './tools.js';

// Issue 3 against real data and real tools: the Alpine 3.20.3 minirootfs imported as an
// image, a 2-platform alpine:3 layout (made from the amd64 and arm64 minirootfs) in the distribution registry, skopeo/umoci as judges.


describe('pull side on real alpine images', () => {
  let work: string;
  let reg: Distribution;
  let cache: string;
  let layout: AlpineLayout;
  const build = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = runOcimake(['build', '--progress=plain', '--cache-dir', cache, ...args], { env });
    expect(r.code, r.stderr).toBe(0);
    return r;
  };

  beforeAll(async () => {
    requireTools('docker-registry', 'skopeo', 'umoci', 'go', 'chroot', 'etcd');
    work = mkdtempSync(join(tmpdir(), 'ocimake-pull-'));
    layout = alpineLayout(join(work, 'alpine-layout'));
    cache = join(work, 'cache');
    reg = await startDistribution(join(work, 'registry'));
    // The minirootfs becomes an image the way the official alpine image is made.
    const ctx = join(work, 'alpine-ctx');
    mkdirSync(ctx);
    copyFileSync(MINIROOTFS.amd64, join(ctx, 'alpine-minirootfs.tar.gz'));
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nADD alpine-minirootfs.tar.gz /\nCMD ["/bin/sh"]\n');
    build([ctx, '-t', `${reg.host}/library/alpine:3.20`, '-t', `${reg.host}/library/alpine:latest`, '--push']);
    run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout.dir}`, `docker://${reg.host}/library/alpine:3`]);
  });

  afterAll(async () => {
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function unpack(ref: string, name: string): string {
    const layout = join(work, `layout-${name}`);
    run('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:x`]);
    const bundle = join(work, `bundle-${name}`);
    run('umoci', ['unpack', '--image', `${layout}:x`, bundle]);
    return join(bundle, 'rootfs');
  }

  it('builds seed 003 (named builder stage) on the real alpine base and the image runs', async () => {
    const ctx = join(work, 'seed003');
    buildGoServer(work, ctx);
    writeFileSync(join(ctx, 'Dockerfile'), [
      'FROM scratch as builder',
      'WORKDIR /go/src/github.com/alexellis/href-counter/',
      'COPY app-server app',
      `FROM ${reg.host}/library/alpine:latest`,
      'WORKDIR /root/',
      'COPY --from=builder /go/src/github.com/alexellis/href-counter/app .',
      'CMD ["./app"]',
    ].join('\n'));
    build([ctx, '-t', `${reg.host}/seed/href-counter:1`, '--push']);
    const rootfs = unpack(`${reg.host}/seed/href-counter:1`, 'seed003');
    expect(readFileSync(join(rootfs, 'etc', 'alpine-release'), 'utf8').trim()).toBe('3.20.3');
    expect(statSync(join(rootfs, 'root', 'app')).mode & 0o777).toBe(0o755);
    const port = await freePort();
    // CMD ["./app"] with WorkingDir /root, run through the image's own busybox shell.
    const child = spawn('chroot', [rootfs, '/bin/sh', '-c', 'cd /root && exec ./app'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ADDR: `127.0.0.1:${port}` }, stdio: 'ignore' });
    const failed = new Promise<never>((_, reject) => child.once('error', reject));
    try {
      expect(await Promise.race([poll(`http://127.0.0.1:${port}/ping`), failed])).toBe('PONG');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('COPY --from=<etcd image> fetches only the layers it needs (seed 001)', () => {
    const etcdCtx = join(work, 'etcd-ctx');
    mkdirSync(join(etcdCtx, 'doc'), { recursive: true });
    copyFileSync(run('sh', ['-c', 'command -v etcd']).trim(), join(etcdCtx, 'etcd'));
    writeFileSync(join(etcdCtx, 'doc', 'filler.bin'), Buffer.alloc(1 << 20, 7));
    writeFileSync(join(etcdCtx, 'Dockerfile'), `FROM ${reg.host}/library/alpine:3.20\nCOPY doc/ /usr/share/doc/etcd/\nCOPY --chmod=755 etcd /usr/local/bin/etcd\n`);
    const meta = join(work, 'etcd-meta.json');
    build([etcdCtx, '-t', `${reg.host}/coreos/etcd:v3.3.9`, '--push', '--metadata-file', meta]);
    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/coreos/etcd:v3.3.9`])) as { layers: { digest: string }[] };
    const [, filler, etcdLayer] = raw.layers.map((l) => l.digest);
    const ctx = join(work, 'seed001');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${reg.host}/library/alpine:latest\nCOPY --from=${reg.host}/coreos/etcd:v3.3.9 /usr/local/bin/etcd /usr/local/bin/\n`);
    const freshCache = join(work, 'cache-seed001');
    const r = runOcimake(['build', ctx, '-t', `${reg.host}/seed/etcd-on-alpine:1`, '--push', '--progress=plain', '--cache-dir', freshCache]);
    expect(r.code, r.stderr).toBe(0);
    const cached = readdirSync(join(freshCache, 'blobs', 'sha256')).map((h) => `sha256:${h}`);
    expect(cached).toContain(etcdLayer);
    expect(cached).not.toContain(filler); // the 1 MiB layer under the binary is never downloaded
    const rootfs = unpack(`${reg.host}/seed/etcd-on-alpine:1`, 'seed001');
    const want = readFileSync(run('sh', ['-c', 'command -v etcd']).trim());
    expect(readFileSync(join(rootfs, 'usr', 'local', 'bin', 'etcd')).equals(want)).toBe(true);
    expect(statSync(join(rootfs, 'usr', 'local', 'bin', 'etcd')).mode & 0o777).toBe(0o755);
  });

  it('--platform linux/arm64 picks the arm64 manifest of the multi-platform alpine:3', () => {
    const ctx = join(work, 'arm');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${reg.host}/library/alpine:3\nLABEL arch=arm64\n`);
    build([ctx, '--platform', 'linux/arm64', '-t', `${reg.host}/multi/arm:1`, '--push']);
    const cfg = JSON.parse(run('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${reg.host}/multi/arm:1`])) as { architecture: string; variant?: string };
    expect(cfg.architecture).toBe('arm64');
    const ours = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/multi/arm:1`])) as { layers: { digest: string }[] };
    expect(ours.layers[0]!.digest).toBe(layout.manifests.arm64.layerDigest);
  });

  describe('when the registry uses token auth', () => {
    it('gets a token from the issuer with credentials from a credential helper on PATH', async () => {
      const dir = join(work, 'token');
      mkdirSync(dir, { recursive: true });
      const issuer = await startTokenIssuer(dir, { ci: 'tok3n' }, 'test-registry', 'test-issuer');
      const authReg = await startDistribution(join(dir, 'registry'), `auth:\n  token:\n    realm: ${issuer.url}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: ${issuer.certFile}\n`);
      try {
        const bin = join(dir, 'bin');
        mkdirSync(bin);
        writeFileSync(join(bin, 'docker-credential-ocitest'), '#!/bin/sh\nread server\necho "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"ci\\",\\"Secret\\":\\"tok3n\\"}"\n');
        chmodSync(join(bin, 'docker-credential-ocitest'), 0o755);
        const cfg = join(dir, 'docker-config');
        mkdirSync(cfg);
        writeFileSync(join(cfg, 'config.json'), JSON.stringify({ credHelpers: { [authReg.host]: 'ocitest' } }));
        const ctx = join(dir, 'ctx');
        mkdirSync(ctx);
        writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /Dockerfile\n');
        const env = { DOCKER_CONFIG: cfg, PATH: `${bin}:${process.env.PATH ?? ''}` };
        const buildAsync = async (args: string[], e: NodeJS.ProcessEnv) => {
          const r = await runOcimakeAsync(['build', '--progress=plain', '--cache-dir', cache, ...args], { env: e });
          expect(r.code, r.stderr).toBe(0);
        };
        await buildAsync([ctx, '-t', `${authReg.host}/private/app:1`, '--push'], env);
        expect(issuer.requests.some((q) => q.includes('scope=repository%3Aprivate%2Fapp%3Apull%2Cpush'))).toBe(true);
        // And the pull side: FROM the private image through the same token flow.
        writeFileSync(join(ctx, 'Dockerfile'), `FROM ${authReg.host}/private/app:1\nLABEL pulled=yes\n`);
        await buildAsync([ctx, '-o', `type=oci,dest=${join(dir, 'out')}`], env);
        const denied = await runOcimakeAsync(['build', ctx, '-o', `type=oci,dest=${join(dir, 'out2')}`, '--cache-dir', join(dir, 'empty-cache')], { env: { DOCKER_CONFIG: join(dir, 'nowhere') } });
        expect(denied.code).not.toBe(0);
        expect(denied.stderr).toMatch(/hint: no credentials found for .*config.json.*OCIMAKE_REGISTRY_AUTH/);
      } finally {
        await authReg.stop();
        await issuer.close();
      }
    });
  });
});

async function poll(url: string, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      return await (await fetch(url)).text();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} never answered: ${String(last)}`);
}
