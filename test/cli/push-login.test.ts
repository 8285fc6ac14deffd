import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { main } from '../../src/cli/main.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 14, "what a buildx user reaches for": ocimake login/logout write what docker login
// writes; ocimake push sends a local image to a registry with its digest unchanged.

describe('ocimake login and logout', () => {
  let reg: RunningRegistry;
  const saved = process.env.DOCKER_CONFIG;
  beforeAll(async () => { reg = await startRegistry({ auth: { users: { ci: 's3cret' } } }); });
  afterAll(async () => { await reg.close(); });
  afterEach(() => { if (saved === undefined) delete process.env.DOCKER_CONFIG; else process.env.DOCKER_CONFIG = saved; });

  it('checks the credentials first, stores them as docker does (0600), lets a push use them, and logout removes them', async () => {
    const cfgDir = tempDir();
    process.env.DOCKER_CONFIG = cfgDir;
    const cfg = join(cfgDir, 'config.json');
    const wrong = await captured(() => main(['login', reg.host, '-u', 'ci', '-p', 'nope']));
    expect(wrong.value).toBe(1);
    expect(wrong.stderr).toMatch(/WARNING! Using --password via the CLI is insecure/);
    expect(wrong.stderr).toMatch(/error: logging in to .* failed: .*authentication required\nhint: check the user name and password/);
    expect(() => statSync(cfg)).toThrow();

    const ok = await captured(() => main(['login', `http://${reg.host}/`, '-u', 'ci', '-p', 's3cret']));
    expect(ok.value).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^Login Succeeded \\(${reg.host}; credentials stored in .*config.json\\)`));
    const stored = JSON.parse(readFileSync(cfg, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(stored.auths[reg.host]!.auth, 'base64').toString()).toBe('ci:s3cret');
    expect(statSync(cfg).mode & 0o777).toBe(0o600);

    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'x' });
    const pushed = await captured(() => main(['build', ctx, '-q', '-t', `${reg.host}/team/app:1`, '--push']));
    expect(pushed.stderr).toBe('');
    expect(pushed.value).toBe(0);

    expect((await captured(() => main(['logout', reg.host]))).stdout).toBe(`Removing login credentials for ${reg.host}\n`);
    expect(JSON.parse(readFileSync(cfg, 'utf8'))).toEqual({ auths: {} });
    const denied = await captured(() => main(['build', ctx, '-q', '-t', `${reg.host}/team/app:2`, '--push']));
    expect(denied.value).toBe(1);
    expect(denied.stderr).toMatch(/hint: no credentials found .*run "ocimake login/);
  });
});

describe('ocimake push', () => {
  let reg: RunningRegistry;
  beforeAll(async () => { reg = await startRegistry(); });
  afterAll(async () => { await reg.close(); });

  it('pushes a multi-platform OCI layout, an OCI archive and a docker archive, digests unchanged for OCI', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nARG TARGETARCH\nCOPY a /a-$TARGETARCH\n', a: 'x' });
    const work = tempDir();
    const layout = join(work, 'layout');
    const built = await captured(() => main(['build', ctx, '-q', '-t', 'app:1', '--platform', 'linux/amd64,linux/arm64', '-o', `type=oci,dest=${layout}`, '-o', `type=oci,dest=${join(work, 'img.tar')}`]));
    expect(built.value).toBe(0);
    const digest = built.stdout.trim();

    const fromDir = await captured(() => main(['push', '-q', layout, `${reg.host}/p/dir:1`, `${reg.host}/p/dir:latest`]));
    expect(fromDir.stderr).toBe('');
    expect(fromDir.stdout.trim()).toBe(digest);
    const fromTar = await captured(() => main(['push', '-q', `oci-archive:${join(work, 'img.tar')}:1`, `${reg.host}/p/tar:1`]));
    expect(fromTar.stdout.trim()).toBe(digest);
    for (const ref of [`${reg.host}/p/dir:latest`, `${reg.host}/p/tar:1`]) {
      const raw = await captured(() => main(['inspect', '--raw', ref]));
      expect(raw.value).toBe(0);
      expect((JSON.parse(raw.stdout) as { manifests: unknown[] }).manifests).toHaveLength(2);
    }

    const single = await captured(() => main(['build', ctx, '-q', '-t', 'app:1', '--iidfile', join(work, 'iid'), '-o', `type=docker,dest=${join(work, 'docker.tar')}`]));
    expect(single.value).toBe(0);
    const fromDocker = await captured(() => main(['push', join(work, 'docker.tar'), `${reg.host}/p/docker:1`]));
    expect(fromDocker.value).toBe(0);
    const info = await captured(() => main(['inspect', '--raw', `${reg.host}/p/docker:1`]));
    expect((JSON.parse(info.stdout) as { config: { digest: string } }).config.digest).toBe(readFileSync(join(work, 'iid'), 'utf8').trim());
  });

  it('says what is wrong with a source it cannot push', async () => {
    const missing = await captured(() => main(['push', join(tempDir(), 'nope'), `${reg.host}/p/x:1`]));
    expect(missing.value).toBe(1);
    expect(missing.stderr).toMatch(/no such file or directory\nhint: give an OCI layout directory/);
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'x' });
    const layout = join(tempDir(), 'l');
    await captured(() => main(['build', ctx, '-q', '-t', 'a:1', '-o', `type=oci,dest=${layout}`]));
    await captured(() => main(['build', ctx, '-q', '-t', 'a:2', '-o', `type=oci,dest=${layout}`]));
    const ambiguous = await captured(() => main(['push', layout, `${reg.host}/p/x:1`]));
    expect(ambiguous.stderr).toMatch(/holds 2 images\nhint: name one: oci:.*:TAG \(tags: 1, 2\)/);
    expect((await captured(() => main(['push', `oci:${layout}:2`, `${reg.host}/p/x:1`]))).value).toBe(0);
  });
});
