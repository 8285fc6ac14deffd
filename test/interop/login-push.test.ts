import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTokenIssuer } from './token-issuer.js';
import { spawn } from 'node:child_process';
import { requireTools, runOcimakeAsync, startDistribution, type Distribution } from './tools.js';

/** skopeo without blocking this process, which serves the token issuer skopeo asks. */
function skopeo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`skopeo ${args.join(' ')}: ${err}`))));
  });
}

// Issue 14, judged by tools no one here wrote: what `ocimake login` writes is what skopeo
// reads, and `ocimake push` puts a multi-platform OCI layout into the real distribution
// registry (token auth) with the digest it has on disk.

describe('ocimake login and ocimake push against the distribution registry', () => {
  let work: string;
  let issuer: Awaited<ReturnType<typeof startTokenIssuer>>;
  let reg: Distribution;
  beforeAll(async () => {
    requireTools('docker-registry', 'skopeo');
    work = mkdtempSync(join(tmpdir(), 'ocimake-login-'));
    issuer = await startTokenIssuer(work, { ci: 'tok3n' }, 'test-registry', 'test-issuer');
    reg = await startDistribution(join(work, 'registry'), `auth:\n  token:\n    realm: ${issuer.url}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: ${issuer.certFile}\n`);
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
    await issuer?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('logs in with --password-stdin, and skopeo then reads the pushed index with those credentials', async () => {
    const cfg = join(work, 'docker-config');
    const env = { DOCKER_CONFIG: cfg };
    const bad = await runOcimakeAsync(['login', reg.host, '-u', 'ci', '--password-stdin'], { env, input: 'wrong\n' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/logging in to .* failed/);
    const login = await runOcimakeAsync(['login', reg.host, '-u', 'ci', '--password-stdin'], { env, input: 'tok3n\n' });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/^Login Succeeded/);

    const ctx = join(work, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nARG TARGETARCH\nCOPY Dockerfile /built-for-$TARGETARCH\n');
    const layout = join(work, 'layout');
    const built = await runOcimakeAsync(['build', ctx, '-q', '-t', 'app:1', '--platform', 'linux/amd64,linux/arm64', '-o', `type=oci,dest=${layout}`, '--cache-dir', join(work, 'cache')]);
    expect(built.code, built.stderr).toBe(0);
    const digest = built.stdout.trim();

    const pushed = await runOcimakeAsync(['push', '--progress=plain', layout, `${reg.host}/private/app:1`], { env });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain(`pushed ${digest}`);
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', '--authfile', join(cfg, 'config.json'), `docker://${reg.host}/private/app:1`]);
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(digest);
    const arm = JSON.parse(await skopeo(['inspect', '--config', '--override-arch', 'arm64', '--tls-verify=false', '--authfile', join(cfg, 'config.json'), `docker://${reg.host}/private/app:1`])) as { architecture: string };
    expect(arm.architecture).toBe('arm64');

    const logout = await runOcimakeAsync(['logout', reg.host], { env });
    expect(logout.stdout).toMatch(/^Removing login credentials/);
    expect((JSON.parse(readFileSync(join(cfg, 'config.json'), 'utf8')) as { auths: object }).auths).toEqual({});
  });
});
