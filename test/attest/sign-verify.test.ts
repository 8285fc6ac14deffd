import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { keyFiles } from '../helpers/keys.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPublicKey, loadSigningKey, signStatement } from '../../src/attest/key-signer.js';
import { statementFor, SLSA_PROVENANCE_V1 } from '../../src/attest/statement.js';
import { verifyKeyBundle } from '../../src/attest/verify-bundle.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 10: statements signed with a key into Sigstore bundles v0.3, verified by
// @sigstore/verify; tampering fails.


const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('key-signed attestations', () => {
  const dir = tempDir();
  const k = keyFiles(dir);

  it('sign, then verify: the statement comes back, in a v0.3 bundle with a DSSE envelope', async () => {
    const bytes = await signStatement(statementFor('registry/app', DIGEST, SLSA_PROVENANCE_V1, { buildDefinition: {} }), loadSigningKey(k.key));
    const bundle = JSON.parse(bytes.toString('utf8'));
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(bundle.verificationMaterial.publicKey.hint).toBe(loadPublicKey(k.pub).hint);
    const st = verifyKeyBundle(bytes, loadPublicKey(k.pub), DIGEST, 'test');
    expect(st.predicateType).toBe(SLSA_PROVENANCE_V1);
  });

  it('fails for another key, another image, and a changed payload', async () => {
    const bytes = await signStatement(statementFor('registry/app', DIGEST, SLSA_PROVENANCE_V1, { x: 1 }), loadSigningKey(k.key));
    const other = keyFiles(dir, 'other');
    expect(() => verifyKeyBundle(bytes, loadPublicKey(other.pub), DIGEST, 'test')).toThrow(/signed with another key/);
    expect(() => verifyKeyBundle(bytes, loadPublicKey(k.pub), `sha256:${'cd'.repeat(32)}`, 'test')).toThrow(/attests sha256:abab.*, not sha256:cdcd/);
    const b = JSON.parse(bytes.toString('utf8'));
    const payload = JSON.parse(Buffer.from(b.dsseEnvelope.payload, 'base64').toString('utf8'));
    payload.predicate.x = 2;
    b.dsseEnvelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    expect(() => verifyKeyBundle(Buffer.from(JSON.stringify(b)), loadPublicKey(k.pub), DIGEST, 'test')).toThrow(/signature does not verify/);
  });

  it('refuses keys it cannot use, in words', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(join(dir, 'rsa.key'), rsa);
    expect(() => loadSigningKey(join(dir, 'rsa.key'))).toThrow(/is a rsa key, not ECDSA P-256/);
    writeFileSync(join(dir, 'cosign-enc.key'), '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nxx\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n');
    expect(() => loadSigningKey(join(dir, 'cosign-enc.key'))).toThrow(/cosign-encrypted key/);
    expect(() => loadSigningKey(join(dir, 'missing.key'))).toThrow(/cannot read the signing key/);
  });
});
