import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyFiles } from '../helpers/keys.js';
import { writeTree } from '../helpers/tmp.js';
import { run, runOcimakeAsync, useDistribution } from './tools.js';

// Issue 10, against the real distribution registry (Debian's 2.8, no referrers API): signed
// attestations fall back to the spec's `sha256-<hex>` tag, which skopeo reads as an index
// listing the bundles; `ocimake verify` finds them there.

describe('signed attestations in a registry without the referrers API', () => {
  const env = useDistribution('ocimake-attest-', 'skopeo');

  it('are pushed under the sha256- tag, listed with their artifactType, and verify', async () => {
    const { work, reg } = env;
    const keys = keyFiles(work);
    const ctx = writeTree(join(work, 'ctx'), { Dockerfile: 'FROM scratch\nCOPY app /app\n', app: 'signed' });
    const ref = `${reg.host}/ci/signed:1`;
    const b = await runOcimakeAsync(['build', ctx, '--progress=plain', '-t', ref, '--push', '--sign', '--key', keys.key, '--cache-dir', join(work, 'cache')]);
    expect(b.code, b.stderr).toBe(0);
    const digest = /built (sha256:[0-9a-f]{64})/.exec(b.stderr)![1]!;
    const index = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/ci/signed:${digest.replace(':', '-')}`])) as { manifests: { artifactType: string; digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]!.artifactType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(index.manifests[0]!.annotations['dev.sigstore.bundle.predicateType']).toBe('https://slsa.dev/provenance/v1');
    const referrer = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/ci/signed@${index.manifests[0]!.digest}`])) as { subject: { digest: string }; artifactType: string };
    expect(referrer.subject.digest).toBe(digest);
    const v = await runOcimakeAsync(['verify', ref, '--key', keys.pub]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(new RegExp(`verified https://slsa.dev/provenance/v1 ${digest} .*found through the sha256- tag`));
  });
  it('a CI matrix: two platforms pushed by digest, joined by imagetools create into another repository; skopeo pulls each platform; the signature comes along under its sha256- tag', async () => {
    const { work, reg } = env;
    const keys = keyFiles(work, 'matrix');
    const ctx = writeTree(join(work, 'matrix'), { Dockerfile: 'FROM scratch\nARG TARGETARCH\nCOPY app /app\nLABEL arch=$TARGETARCH\n', app: 'app' });
    const digests: string[] = [];
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const b = await runOcimakeAsync(['build', ctx, '--platform', platform, '-o', `type=image,name=${reg.host}/ci/matrix,push-by-digest=true,name-canonical=true,push=true`, '--progress=plain', '--sign', '--key', keys.key, '--cache-dir', join(work, 'cache')]);
      expect(b.code, b.stderr).toBe(0);
      digests.push(/built (sha256:[0-9a-f]{64})/.exec(b.stderr)![1]!);
    }
    const c = await runOcimakeAsync(['imagetools', 'create', '-t', `${reg.host}/release/matrix:1`, ...digests.map((d) => `${reg.host}/ci/matrix@${d}`)]);
    expect(c.code, c.stderr).toBe(0);
    for (const [k, arch] of ['amd64', 'arm64'].entries()) {
      const cfg = JSON.parse(run('skopeo', ['inspect', '--config', '--tls-verify=false', '--override-os', 'linux', '--override-arch', arch, `docker://${reg.host}/release/matrix:1`])) as { architecture: string; config: { Labels: Record<string, string> } };
      expect(cfg.architecture).toBe(arch);
      expect(cfg.config.Labels.arch).toBe(arch);
      const tagged = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/release/matrix:${digests[k]!.replace(':', '-')}`])) as { manifests: { artifactType: string }[] };
      expect(tagged.manifests.map((m) => m.artifactType)).toContain('application/vnd.dev.sigstore.bundle.v0.3+json');
    }
    const v = await runOcimakeAsync(['verify', `${reg.host}/release/matrix@${digests[1]}`, '--key', keys.pub]);
    expect(v.code, v.stderr).toBe(0);
  });
  it('unsigned --provenance (no --sign) is an attestation manifest in the index, as buildx makes it; skopeo copies the whole index', async () => {
    const { work, reg } = env;
    const ctx = writeTree(join(work, 'unsigned'), { Dockerfile: 'FROM scratch\nCOPY app /app\n', app: 'app' });
    const b = await runOcimakeAsync(['build', ctx, '-t', `${reg.host}/ci/unsigned:1`, '--push', '--provenance=mode=max', '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(b.code, b.stderr).toBe(0);
    const index = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/ci/unsigned:1`])) as { manifests: { platform: { os: string }; annotations?: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.platform.os)).toEqual(['linux', 'unknown']);
    expect(index.manifests[1]!.annotations!['vnd.docker.reference.type']).toBe('attestation-manifest');
    run('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${reg.host}/ci/unsigned:1`, `oci:${join(work, 'unsigned-copy')}:1`]);
  });
});
