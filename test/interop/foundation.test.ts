import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoServer } from './go-server.js';
import { freePort, requireTools, run, runOcimake, startDistribution, type Distribution } from './tools.js';

// Issue 2's acceptance: seed 001's final stage (FROM scratch + static Go binary) built by
// ocimake, pushed to the real distribution registry, judged by skopeo and umoci, and run.

const DOCKERFILE = 'FROM scratch\nCOPY app-server /app-server\nEXPOSE 8080\nENTRYPOINT ["/app-server"]\n';

describe('foundation: a FROM scratch Go server image', () => {
  let work: string;
  let ctx: string;
  let reg: Distribution;
  let ref: string;
  let digest: string;

  beforeAll(async () => {
    requireTools('docker-registry', 'skopeo', 'umoci', 'go', 'chroot');
    work = mkdtempSync(join(tmpdir(), 'ocimake-interop-'));
    ctx = join(work, 'ctx');
    buildGoServer(work, ctx);
    writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE);
    reg = await startDistribution(join(work, 'registry'));
    ref = `${reg.host}/seed/app-server:1.0`;
    const meta = join(work, 'meta.json');
    const r = runOcimake(['build', ctx, '-t', ref, '--push', '--progress=plain', '--metadata-file', meta, '--cache-dir', join(work, 'cache')]);
    expect(r.stderr).toContain('pushed');
    expect(r.code, r.stderr).toBe(0);
    digest = (JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>)['containerimage.digest']!;
  });

  afterAll(async () => {
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('skopeo inspect agrees on the digest and the config', () => {
    const info = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])) as { Digest: string; Architecture: string; Os: string };
    expect(info.Digest).toBe(digest);
    expect(info.Os).toBe('linux');
    const config = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${ref}`])) as { config: { Entrypoint: string[]; ExposedPorts: Record<string, object> } };
    expect(config.config.Entrypoint).toEqual(['/app-server']);
    expect(Object.keys(config.config.ExposedPorts)).toEqual(['8080/tcp']);
  });

  it('umoci unpacks it and its entrypoint answers PONG under chroot', async () => {
    const layout = join(work, 'pulled');
    run('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:app`]);
    const bundle = join(work, 'bundle');
    run('umoci', ['unpack', '--image', `${layout}:app`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    expect(existsSync(join(rootfs, 'app-server'))).toBe(true);
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[] } };
    expect(spec.process.args).toEqual(['/app-server']);
    const port = await freePort();
    const child = spawn('chroot', [rootfs, ...spec.process.args], { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ADDR: `127.0.0.1:${port}` }, stdio: 'ignore' });
    const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
    try {
      const body = await Promise.race([poll(`http://127.0.0.1:${port}/ping`), spawnError]);
      expect(body).toBe('PONG');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('writes an OCI layout and a docker archive that skopeo copy accepts', () => {
    const oci = join(work, 'out-oci');
    const archive = join(work, 'out.tar');
    const r = runOcimake(['build', ctx, '-t', 'example.com/seed/app:1.0', '-o', `type=oci,dest=${oci}`, '-o', `type=docker,dest=${archive}`, '--progress=quiet', '--cache-dir', join(work, 'cache')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(digest);
    const fromOci = join(work, 'copied-oci');
    run('skopeo', ['copy', `oci:${oci}:1.0`, `oci:${fromOci}:x`]);
    const fromArchive = join(work, 'copied-archive');
    run('skopeo', ['copy', `docker-archive:${archive}`, `oci:${fromArchive}:x`]);
    const inspect = JSON.parse(run('skopeo', ['inspect', `docker-archive:${archive}`])) as { RepoTags: string[]; Layers: string[] };
    expect(inspect.Layers).toHaveLength(1);
    run('umoci', ['unpack', '--image', `${fromArchive}:x`, join(work, 'bundle2')]);
    const ociTar = join(work, 'out-oci.tar');
    const t = runOcimake(['build', ctx, '-t', 'example.com/seed/app:1.0', '-o', `type=oci,dest=${ociTar}`, '--progress=quiet', '--cache-dir', join(work, 'cache')]);
    expect(t.code, t.stderr).toBe(0);
    const viaArchive = JSON.parse(run('skopeo', ['inspect', `oci-archive:${ociTar}:1.0`])) as { Digest: string };
    expect(viaArchive.Digest).toBe(digest);
    expect(existsSync(join(work, 'bundle2', 'rootfs', 'app-server'))).toBe(true);
  });

  it('pushes a multi-platform index that skopeo resolves per platform', () => {
    const mp = join(work, 'mp');
    mkdirSync(join(mp, 'bin', 'amd64'), { recursive: true });
    mkdirSync(join(mp, 'bin', 'arm64'), { recursive: true });
    writeFileSync(join(mp, 'bin', 'amd64', 'app'), 'amd64');
    writeFileSync(join(mp, 'bin', 'arm64', 'app'), 'arm64');
    writeFileSync(join(mp, 'Dockerfile'), 'FROM scratch\nARG TARGETARCH\nCOPY bin/${TARGETARCH}/app /app\n');
    const r = runOcimake(['build', mp, '--platform', 'linux/amd64,linux/arm64', '-t', `${reg.host}/seed/multi:1`, '--push', '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(r.code, r.stderr).toBe(0);
    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/seed/multi:1`])) as { manifests: { platform: { architecture: string } }[] };
    expect(raw.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    const arm = JSON.parse(run('skopeo', ['inspect', '--override-arch', 'arm64', '--tls-verify=false', `docker://${reg.host}/seed/multi:1`])) as { Architecture: string };
    expect(arm.Architecture).toBe('arm64');
    run('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${reg.host}/seed/multi:1`, `oci:${join(work, 'multi-copy')}:1`]);
  });

  describe('when the registry requires basic auth', () => {
    let authReg: Distribution;
    let cfgDir: string;

    beforeAll(async () => {
      const dir = join(work, 'auth-registry');
      mkdirSync(dir, { recursive: true });
      const bcrypt = await import('bcryptjs');
      writeFileSync(join(dir, 'htpasswd'), `ci:${bcrypt.default.hashSync('s3cret', 10)}\n`);
      authReg = await startDistribution(dir, `auth:\n  htpasswd:\n    realm: ocimake-test\n    path: ${join(dir, 'htpasswd')}\n`);
      cfgDir = join(work, 'docker-config');
      mkdirSync(cfgDir, { recursive: true });
      writeFileSync(join(cfgDir, 'config.json'), JSON.stringify({ auths: { [authReg.host]: { auth: Buffer.from('ci:s3cret').toString('base64') } } }));
    });
    afterAll(async () => authReg?.stop());

    it('pushes with credentials from config.json', () => {
      const r = runOcimake(['build', ctx, '-t', `${authReg.host}/private/app:1`, '--push', '--progress=plain', '--cache-dir', join(work, 'cache')], { env: { DOCKER_CONFIG: cfgDir } });
      expect(r.code, r.stderr).toBe(0);
      const info = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--creds', 'ci:s3cret', `docker://${authReg.host}/private/app:1`])) as { Digest: string };
      expect(info.Digest).toBe(digest);
    });

    it('fails clearly without them', () => {
      const empty = join(work, 'empty-config');
      mkdirSync(empty, { recursive: true });
      const r = runOcimake(['build', ctx, '-t', `${authReg.host}/private/app:2`, '--push', '--progress=plain', '--cache-dir', join(work, 'cache')], { env: { DOCKER_CONFIG: empty } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/requires authentication|UNAUTHORIZED/);
      expect(r.stderr).toMatch(/hint: no credentials found for .*config.json.*OCIMAKE_REGISTRY_AUTH/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    });
  });
});

async function poll(url: string, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const res = await fetch(url);
      return await res.text();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} never answered: ${String(last)}`);
}
