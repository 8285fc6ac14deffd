import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { main } from '../../src/cli/main.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { keyFiles } from '../helpers/keys.js';

// Issue 10: `ocimake build --push --sign --key` attaches signed SLSA provenance and a CycloneDX
// SBOM as OCI 1.1 referrers on the embedded registry (referrers API); `ocimake verify` checks
// them; a plain HTTP client sees the artifactType and subject.

describe('signed attestations pushed as referrers', () => {
  let reg: RunningRegistry;
  const work = tempDir();
  const keys = keyFiles(work);
  const other = keyFiles(work, 'other');
  let alpine = '';
  beforeAll(async () => {
    reg = await startRegistry();
    alpine = `oci:${alpineLayout(join(work, 'alpine')).dir}:3`;
  });
  afterAll(async () => reg?.close());

  const cli = (args: string[]) => captured(() => main(args));

  it('build --push --sign --sbom --provenance=mode=max, then verify: provenance and SBOM verify, for this digest only', async () => {
    const ctx = writeTree(join(work, 'ctx'), { Dockerfile: `FROM ${alpine}\nARG GREETING=hi\nCOPY app /app\n`, app: 'x' });
    const ref = `${reg.host}/acme/signed:1`;
    const b = await cli(['build', ctx, '-t', ref, '--push', '--sign', '--key', keys.key, '--sbom', '--provenance=mode=max', '--build-arg', 'GREETING=hello', '--cache-dir', join(work, 'cache'), '--progress=plain']);
    expect(b.stderr).not.toMatch(/error/);
    expect(b.value).toBe(0);
    expect(b.stderr).toMatch(/attested sha256:[0-9a-f]{64} \(https:\/\/slsa\.dev\/provenance\/v1\)/);
    expect(b.stderr).toMatch(/attested sha256:[0-9a-f]{64} \(https:\/\/cyclonedx\.org\/bom\)/);

    const v = await cli(['verify', ref, '--key', keys.pub, '--output', 'json']);
    expect(v.stderr).toBe('');
    expect(v.value).toBe(0);
    const r = JSON.parse(v.stdout) as { digest: string; via: string; verified: { predicateType: string; predicate: any }[] };
    expect(r.via).toBe('api');
    const prov = r.verified.find((x) => x.predicateType === 'https://slsa.dev/provenance/v1')!.predicate;
    expect(prov.buildDefinition.externalParameters.buildArgs).toEqual({ GREETING: 'hello' });
    const deps = prov.buildDefinition.resolvedDependencies as { uri: string; digest?: Record<string, string> }[];
    expect(deps.slice(0, 3).map((d) => d.uri)).toEqual(['file:Dockerfile', 'context:.', expect.stringContaining('oci:')]);
    expect(deps[1]!.digest?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const apkDep = deps.find((d) => d.uri.startsWith('pkg:apk/alpine/musl@'))!;
    expect(apkDep.digest?.sha1).toMatch(/^[0-9a-f]{40}$/);
    const sbom = r.verified.find((x) => x.predicateType === 'https://cyclonedx.org/bom')!.predicate;
    expect(sbom.specVersion).toBe('1.6');
    const musl = sbom.components.find((c: { name: string }) => c.name === 'musl');
    expect(musl.version).toMatch(/^1\.2\.\d+-r\d+$/);
    expect(musl.purl).toBe(`pkg:apk/alpine/musl@${musl.version}?arch=x86_64`);
    expect(prov.buildDefinition.externalParameters.dockerfileDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Every package apk's database lists, with its version.
    const dbOut = join(work, 'db');
    expect((await cli(['extract', ref, '/lib/apk/db/installed', '-o', dbOut, '--cache-dir', join(work, 'cache')])).value).toBe(0);
    const { parseInstalled } = await import('../../src/attest/sbom.js');
    const { readFileSync } = await import('node:fs');
    const installed = parseInstalled(readFileSync(join(dbOut, 'lib/apk/db/installed'), 'utf8'));
    expect(installed.length).toBeGreaterThan(10);
    expect(sbom.components.filter((c: { purl: string }) => c.purl.startsWith('pkg:apk/')).map((c: { name: string; version: string }) => `${c.name}@${c.version}`).sort())
      .toEqual(installed.map((p) => `${p.name}@${p.version}`).sort());
    const CDX = await import('@cyclonedx/cyclonedx-library');
    expect(await new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot6).validate(JSON.stringify(sbom))).toBeNull();

    // What any OCI 1.1 client sees: the referrers index, with the bundle type and the subject.
    const list = await (await fetch(`http://${reg.host}/v2/acme/signed/referrers/${r.digest}`)).json() as { manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[] };
    expect(list.manifests.map((m) => m.artifactType)).toEqual(['application/vnd.dev.sigstore.bundle.v0.3+json', 'application/vnd.dev.sigstore.bundle.v0.3+json']);
    const one = await (await fetch(`http://${reg.host}/v2/acme/signed/manifests/${list.manifests[0]!.digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json() as { subject: { digest: string } };
    expect(one.subject.digest).toBe(r.digest);

    const wrongKey = await cli(['verify', ref, '--key', other.pub]);
    expect(wrongKey.value).toBe(1);
    expect(wrongKey.stderr).toMatch(/no attestation of .* verifies with .*other\.pub: .*signed with another key/);
  });

  it('mode=max warns of build args that look secret, and lists what ADD <url> downloaded by digest', async () => {
    const body = Buffer.from('downloaded\n');
    const server = createServer((_req, res) => { res.writeHead(200, { 'content-length': body.length }).end(body); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/tool.bin`;
      const ctx = writeTree(join(work, 'ctx-url'), { Dockerfile: `FROM scratch\nARG API_TOKEN\nADD ${url} /tool.bin\n` });
      const ref = `${reg.host}/acme/with-url:1`;
      const b = await cli(['build', ctx, '-t', ref, '--push', '--sign', '--key', keys.key, '--provenance=mode=max', '--build-arg', 'API_TOKEN=cli_s3cr3t', '--cache-dir', join(work, 'cache'), '--progress=plain']);
      expect(b.value).toBe(0);
      expect(b.stderr).toMatch(/WARN.*--provenance mode=max records the values of build args, and API_TOKEN looks secret/);
      const v = await cli(['verify', ref, '--key', keys.pub, '--output', 'json']);
      const prov = (JSON.parse(v.stdout) as { verified: { predicateType: string; predicate: any }[] }).verified.find((x) => x.predicateType === 'https://slsa.dev/provenance/v1')!.predicate;
      expect(prov.buildDefinition.resolvedDependencies).toContainEqual({ uri: url, digest: { sha256: createHash('sha256').update(body).digest('hex') } });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('an image without attestations fails verification, saying so', async () => {
    const ctx = writeTree(join(work, 'ctx2'), { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'y' });
    const ref = `${reg.host}/acme/unsigned:1`;
    expect((await cli(['build', ctx, '-t', ref, '--push', '-q', '--cache-dir', join(work, 'cache')])).value).toBe(0);
    const v = await cli(['verify', ref, '--key', keys.pub]);
    expect(v.value).toBe(1);
    expect(v.stderr).toMatch(/has no Sigstore bundle referrers/);
  });

  it('refuses --sign without --key or without a push, and --sbom without an output that holds an index, before building', async () => {
    const ctx = writeTree(join(work, 'ctx3'), { Dockerfile: 'FROM scratch\n' });
    expect((await cli(['build', ctx, '--sign', '-t', `${reg.host}/a/b:1`, '--push'])).stderr).toMatch(/keyless signing needs an OIDC identity token, and none was found/);
    expect((await cli(['build', ctx, '--sign', '--key', keys.key, '-o', join(work, 'o')])).stderr).toMatch(/--sign attaches attestations to a pushed image or an OCI layout, and there is neither/);
    // Without --sign, --sbom is buildx's unsigned attestation in the index (test/e2e/index-attestations.test.ts): it needs a push or a layout.
    expect((await cli(['build', ctx, '--sbom', '-o', join(work, 'o2')])).stderr).toMatch(/--provenance and --sbom go into the image index of a pushed image or an OCI layout, and there is neither/);
  });

  it('ocimake sign signs an image already pushed; inspect lists the referrer; verify accepts it', async () => {
    const ctx = writeTree(join(work, 'ctx4'), { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'later' });
    const ref = `${reg.host}/acme/later:1`;
    expect((await cli(['build', ctx, '-t', ref, '--push', '-q', '--cache-dir', join(work, 'cache')])).value).toBe(0);
    const s = await cli(['sign', ref, '--key', keys.key]);
    expect(s.value).toBe(0);
    expect(s.stderr).toMatch(/^signed sha256:[0-9a-f]{64}: sha256:[0-9a-f]{64}\n$/);
    const i = await cli(['inspect', ref]);
    const inspected = JSON.parse(i.stdout) as { referrers: { artifactType: string; annotations: Record<string, string> }[] };
    expect(inspected.referrers).toHaveLength(1);
    expect(inspected.referrers[0]!.artifactType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(inspected.referrers[0]!.annotations['dev.sigstore.bundle.predicateType']).toBe('https://sigstore.dev/cosign/sign/v1');
    const v = await cli(['verify', ref, '--key', keys.pub]);
    expect(v.value).toBe(0);
    expect(v.stdout).toMatch(/^verified https:\/\/sigstore\.dev\/cosign\/sign\/v1 /);
  });

  it('a bundle of another image attached as a referrer (a swapped bundle) does not verify', async () => {
    const { pushReferrer } = await import('../../src/remote/referrers.js');
    const { signStatement, loadSigningKey } = await import('../../src/attest/key-signer.js');
    const { statementFor } = await import('../../src/attest/statement.js');
    const { RegistryClient } = await import('../../src/remote/transport.js');
    const ctx = writeTree(join(work, 'ctx5'), { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'victim' });
    const ref = `${reg.host}/acme/victim:1`;
    const built = await cli(['build', ctx, '-t', ref, '--push', '-q', '--cache-dir', join(work, 'cache')]);
    const digest = built.stdout.trim();
    const manifest = await fetch(`http://${reg.host}/v2/acme/victim/manifests/${digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const size = Number(manifest.headers.get('content-length'));
    // Signed, but about another image: attached here by someone with push access.
    const other = await signStatement(statementFor(`${reg.host}/acme/victim`, `sha256:${'0'.repeat(64)}`, 'https://slsa.dev/provenance/v1', {}), loadSigningKey(keys.key));
    await pushReferrer(new RegistryClient(reg.host), 'acme/victim', { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest as `sha256:${string}`, size }, other, {});
    const v = await cli(['verify', ref, '--key', keys.pub]);
    expect(v.value).toBe(1);
    expect(v.stderr).toMatch(/attests sha256:0000.*, not sha256:/);
  });

  it('a multi-platform build attests each platform\'s manifest', async () => {
    const ctx = writeTree(join(work, 'ctx6'), { Dockerfile: 'FROM scratch\nARG TARGETARCH\nCOPY f /f-$TARGETARCH\n', f: 'multi' });
    const ref = `${reg.host}/acme/multi:1`;
    const b = await cli(['build', ctx, '-t', ref, '--push', '--sign', '--key', keys.key, '--platform', 'linux/amd64,linux/arm64', '--cache-dir', join(work, 'cache'), '--progress=plain']);
    expect(b.value).toBe(0);
    expect(b.stderr.match(/^attested /gm)).toHaveLength(2);
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const v = await cli(['verify', ref, '--key', keys.pub, '--platform', platform, '--output', 'json']);
      expect(v.value).toBe(0);
      const r = JSON.parse(v.stdout) as { verified: { predicate: { buildDefinition: { externalParameters: { platform: string } } } }[] };
      expect(r.verified[0]!.predicate.buildDefinition.externalParameters.platform).toMatch(new RegExp(`^${platform}(/v8)?$`));
    }
  });

  it('an OCI layout output carries the attestations as referrers, and the layout still opens untagged', async () => {
    const ctx = writeTree(join(work, 'ctx7'), { Dockerfile: `FROM ${alpine}\nCOPY f /f\n`, f: 'layout' });
    const out = join(work, 'layout-out');
    const b = await cli(['build', ctx, '-o', `type=oci,dest=${out}`, '--sign', '--key', keys.key, '--sbom', '--cache-dir', join(work, 'cache'), '--progress=plain']);
    expect(b.value).toBe(0);
    const { readFileSync } = await import('node:fs');
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string; artifactType?: string }[] };
    const image = index.manifests.filter((m) => !m.artifactType);
    const refs = index.manifests.filter((m) => m.artifactType === 'application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(image).toHaveLength(1);
    expect(refs).toHaveLength(2);
    for (const r of refs) {
      const m = JSON.parse(readFileSync(join(out, 'blobs', 'sha256', r.digest.slice(7)), 'utf8')) as { subject: { digest: string }; layers: { digest: string }[] };
      expect(m.subject.digest).toBe(image[0]!.digest);
      const { verifyKeyBundle } = await import('../../src/attest/verify-bundle.js');
      const { loadPublicKey } = await import('../../src/attest/key-signer.js');
      verifyKeyBundle(readFileSync(join(out, 'blobs', 'sha256', m.layers[0]!.digest.slice(7))), loadPublicKey(keys.pub), image[0]!.digest, 'layout');
    }
    const again = writeTree(join(work, 'ctx8'), { Dockerfile: `FROM scratch\nCOPY --from=oci:${out} /f /g\n` });
    expect((await cli(['build', again, '-q', '--cache-dir', join(work, 'cache'), '-o', `type=oci,dest=${join(work, 'o8')}`])).value).toBe(0);
  });

  it('an OCI archive output carries them too', async () => {
    const ctx = writeTree(join(work, 'ctx9'), { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'archive' });
    const out = join(work, 'signed.tar');
    const b = await cli(['build', ctx, '-o', `type=oci,dest=${out}`, '--sign', '--key', keys.key, '--cache-dir', join(work, 'cache'), '--progress=plain']);
    expect(b.value).toBe(0);
    expect(b.stderr).toContain(`oci:${out}@sha256:`);
    const { readTar } = await import('../helpers/tar.js');
    const { readFileSync } = await import('node:fs');
    const entries = await readTar(readFileSync(out), false);
    const index = JSON.parse(entries.find((e) => e.name === 'index.json')!.content!) as { manifests: { artifactType?: string }[] };
    expect(index.manifests.map((m) => m.artifactType ?? 'image')).toEqual(['image', 'application/vnd.dev.sigstore.bundle.v0.3+json']);
  });
});
