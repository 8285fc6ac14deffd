import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { main } from '../../src/cli/main.js';
import { captured } from '../helpers/capture.js';
import { startSigstoreServices, type SigstoreServices } from '../helpers/sigstore-services.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 10: keyless signing end to end, offline: an OIDC token, a certificate from (mock)
// Fulcio, a (mock) Rekor entry, the bundle pushed as a referrer, verified by identity and
// issuer against the mock's trusted root. Another identity or issuer fails.

describe('keyless signing against mock Fulcio and Rekor', () => {
  let reg: RunningRegistry;
  let sig: SigstoreServices;
  const work = tempDir();
  const root = join(work, 'trusted_root.json');
  beforeAll(async () => {
    reg = await startRegistry();
    sig = await startSigstoreServices();
    writeFileSync(root, JSON.stringify(sig.trustedRoot));
  });
  afterAll(async () => { await reg?.close(); await sig?.close(); delete process.env.SIGSTORE_ID_TOKEN; });
  const cli = (args: string[]) => captured(() => main(args));

  it('signs with a Fulcio certificate and a Rekor entry; verifies by identity and issuer only', async () => {
    process.env.SIGSTORE_ID_TOKEN = sig.token({ iss: 'https://issuer.example', sub: 'ci@example.com', email: 'ci@example.com', email_verified: true as unknown as string });
    const ctx = writeTree(join(work, 'ctx'), { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'keyless' });
    const ref = `${reg.host}/acme/keyless:1`;
    const b = await cli(['build', ctx, '-t', ref, '--push', '--sign', '--fulcio-url', sig.url, '--rekor-url', sig.url, '--cache-dir', join(work, 'cache'), '--progress=plain']);
    expect(b.stderr.split('\n').filter((l) => /error/.test(l))).toEqual([]);
    expect(b.value).toBe(0);
    const ok = await cli(['verify', ref, '--certificate-identity', 'ci@example.com', '--certificate-oidc-issuer', 'https://issuer.example', '--trusted-root', root, '--output', 'json']);
    expect(ok.stderr).toBe('');
    const r = JSON.parse(ok.stdout) as { verified: { predicateType: string }[] };
    expect(r.verified.map((v) => v.predicateType)).toEqual(['https://slsa.dev/provenance/v1']);
    const wrongId = await cli(['verify', ref, '--certificate-identity', 'mallory@example.com', '--certificate-oidc-issuer', 'https://issuer.example', '--trusted-root', root]);
    expect(wrongId.value).toBe(1);
    expect(wrongId.stderr).toMatch(/does not verify/);
    const wrongIssuer = await cli(['verify', ref, '--certificate-identity', 'ci@example.com', '--certificate-oidc-issuer', 'https://other.example', '--trusted-root', root]);
    expect(wrongIssuer.value).toBe(1);
  });

  it('with --tlog=false and a TSA: no Rekor entry, an RFC 3161 timestamp instead, and it verifies', async () => {
    process.env.SIGSTORE_ID_TOKEN = sig.token({ iss: 'https://issuer.example', sub: 'ci@example.com', email: 'ci@example.com', email_verified: true as unknown as string });
    const ctx = writeTree(join(work, 'ctx-tsa'), { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'tsa' });
    const ref = `${reg.host}/acme/tsa:1`;
    const b = await cli(['build', ctx, '-t', ref, '--push', '--sign', '--fulcio-url', sig.url, '--tlog=false', '--tsa-url', `${sig.url}/api/v1/timestamp`, '--cache-dir', join(work, 'cache')]);
    expect(b.stderr.split('\n').filter((l) => /error/.test(l))).toEqual([]);
    const { listReferrers, readReferrerBlob } = await import('../../src/remote/referrers.js');
    const { RegistryClient } = await import('../../src/remote/transport.js');
    const client = new RegistryClient(reg.host);
    const digest = /built (sha256:[0-9a-f]{64})/.exec(b.stderr)![1]!;
    const [r] = (await listReferrers(client, 'acme/tsa', digest)).referrers;
    const bundle = JSON.parse((await readReferrerBlob(client, 'acme/tsa', r!.digest)).toString('utf8'));
    expect(bundle.verificationMaterial.tlogEntries ?? []).toEqual([]);
    expect(bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps).toHaveLength(1);
    const ok = await cli(['verify', ref, '--certificate-identity', 'ci@example.com', '--certificate-oidc-issuer', 'https://issuer.example', '--trusted-root', root]);
    expect(ok.stderr).toBe('');
    expect(ok.value).toBe(0);
  });

  it('without --trusted-root, the public-good root comes through TUF; an unreachable mirror is a clear error', async () => {
    const ref = `${reg.host}/acme/keyless:1`;
    const r = await cli(['verify', ref, '--certificate-identity', 'ci@example.com', '--certificate-oidc-issuer', 'https://issuer.example', '--tuf-mirror', 'http://127.0.0.1:9', '--cache-dir', join(work, 'tuf-cache')]);
    expect(r.value).toBe(1);
    expect(r.stderr).toMatch(/cannot fetch the Sigstore public-good trusted root through TUF[\s\S]*hint: check that http:\/\/127\.0\.0\.1:9 is reachable, or pass --trusted-root FILE/);
  }, 60_000);

  it('a refused token is not printed', async () => {
    process.env.SIGSTORE_ID_TOKEN = sig.token({ iss: 'https://issuer.example', email: 'unverified@example.com' });
    const ctx = writeTree(join(work, 'ctx3'), { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'x' });
    const r = await cli(['build', ctx, '-t', `${reg.host}/acme/y:1`, '--push', '--sign', '--fulcio-url', sig.url, '--rekor-url', sig.url, '--cache-dir', join(work, 'cache')]);
    expect(r.value).toBe(1);
    expect(r.stderr).toMatch(/keyless signing failed: invalid identity token: <the token>/);
    expect(r.stderr).not.toContain(process.env.SIGSTORE_ID_TOKEN!.slice(0, 30));
  });

  it('without a token, --sign fails before the build, saying where a token comes from', async () => {
    delete process.env.SIGSTORE_ID_TOKEN;
    const ctx = writeTree(join(work, 'ctx2'), { Dockerfile: 'FROM scratch\n' });
    const r = await cli(['build', ctx, '-t', `${reg.host}/acme/x:1`, '--push', '--sign', '--fulcio-url', sig.url]);
    expect(r.value).toBe(1);
    expect(r.stderr).toMatch(/keyless signing needs an OIDC identity token[\s\S]*SIGSTORE_ID_TOKEN/);
  });
});
