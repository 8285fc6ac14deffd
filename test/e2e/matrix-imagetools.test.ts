import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { main } from '../../src/cli/main.js';
import { openImage } from '../../src/source/open.js';
import { Remote } from '../../src/remote/registry-image.js';
import { Cache } from '../../src/store/cache.js';
import { captured } from '../helpers/capture.js';
import { keyFiles } from '../helpers/keys.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 28: a CI matrix of native runners. Each builds its platform and pushes it by digest
// (-o type=image,push-by-digest=true,...); the last step joins them with imagetools create,
// which reads manifests only and, into another repository, copies what it lacks with the
// images' referrers (signed attestations).

describe('push by digest, then imagetools create', () => {
  let reg: RunningRegistry;
  let work: string;
  beforeAll(async () => { reg = await startRegistry(); work = tempDir(); });
  afterAll(async () => reg?.close());

  const cli = (...args: string[]) => captured(() => main(args));

  it('joins two platforms pushed untagged into one index; each platform pulls; referrers come along', async () => {
    const keys = keyFiles(work);
    const ctx = writeTree(join(work, 'app'), { Dockerfile: 'FROM scratch\nARG TARGETARCH\nCOPY app /app\nLABEL arch=$TARGETARCH\n', app: 'app' });
    const digests: string[] = [];
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const meta = join(work, `${platform.replace('/', '-')}.json`);
      const r = await cli('build', ctx, '--platform', platform, '-o', `type=image,name=${reg.host}/acme/app,push-by-digest=true,name-canonical=true,push=true`, '--metadata-file', meta, '--progress=quiet', '--cache-dir', join(work, 'cache'), ...(platform === 'linux/arm64' ? ['--sign', '--key', keys.key] : []));
      expect(r.value, r.stderr).toBe(0);
      digests.push((JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>)['containerimage.digest']!);
    }
    // Untagged: the repository has no tag yet.
    const tags = (await (await fetch(`${reg.url}/v2/acme/app/tags/list`)).json() as { tags: string[] | null }).tags ?? [];
    expect(tags.filter((t) => !t.startsWith('sha256-'))).toEqual([]);
    const before = reg.stats.blobGets;
    const made = await cli('imagetools', 'create', '-t', `${reg.host}/acme/app:1.0`, '-t', `${reg.host}/release/app:1.0`, ...digests.map((d) => `${reg.host}/acme/app@${d}`));
    expect(made.value, made.stderr).toBe(0);
    const indexDigest = made.stdout.trim();
    // Configs only were read (for their platform), no layer.
    expect(reg.stats.blobGets - before).toBeLessThanOrEqual(2 + 8);
    for (const repo of ['acme/app', 'release/app']) {
      const index = await (await fetch(`${reg.url}/v2/${repo}/manifests/1.0`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } })).json() as { manifests: { digest: string; platform: { architecture: string } }[] };
      expect(index.manifests.map((m) => `${m.platform.architecture} ${m.digest}`)).toEqual([`amd64 ${digests[0]}`, `arm64 ${digests[1]}`]);
      for (const [k, arch] of ['amd64', 'arm64'].entries()) {
        const o = await openImage(`${reg.host}/${repo}:1.0`, { remote: new Remote(), platform: { os: 'linux', architecture: arch }, store: Cache.at(join(work, `pull-${repo.replace('/', '-')}`)).blobs });
        expect(o.digest).toBe(digests[k]);
        expect(o.image.config.config?.Labels?.arch).toBe(arch);
      }
    }
    // The arm64 image's signed attestation went with it to the other repository.
    const referrers = await (await fetch(`${reg.url}/v2/release/app/referrers/${digests[1]}`)).json() as { manifests: { artifactType: string }[] };
    expect(referrers.manifests.map((m) => m.artifactType)).toContain('application/vnd.dev.sigstore.bundle.v0.3+json');
    const verified = await cli('verify', `${reg.host}/release/app@${digests[1]}`, '--key', keys.pub);
    expect(verified.value, verified.stderr).toBe(0);
    const inspected = await cli('imagetools', 'inspect', `${reg.host}/release/app:1.0`);
    expect(inspected.stdout).toContain(`Digest:    ${indexDigest}`);
    expect(inspected.stdout).toContain(`${digests[1]}  linux/arm64`);
  });

  it('refuses two sources for one platform, and no source', async () => {
    const ctx = writeTree(join(work, 'twice'), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
    const d: string[] = [];
    for (const content of ['one', 'two']) {
      writeTree(ctx, { a: content });
      const meta = join(work, `twice-${content}.json`);
      expect((await cli('build', ctx, '--platform', 'linux/amd64', '-o', `type=image,name=${reg.host}/acme/twice,push-by-digest=true,push=true`, '--metadata-file', meta, '--progress=quiet', '--cache-dir', join(work, 'cache'))).value).toBe(0);
      d.push((JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>)['containerimage.digest']!);
    }
    const r = await cli('imagetools', 'create', '-t', `${reg.host}/acme/twice:1`, ...d.map((x) => `${reg.host}/acme/twice@${x}`));
    expect(r.stderr).toContain('two sources are for linux/amd64');
    expect((await cli('imagetools', 'create', `${reg.host}/acme/twice@${d[0]}`)).stderr).toContain('needs -t REF');
  });
});
