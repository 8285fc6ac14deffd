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
});
