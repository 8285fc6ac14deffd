import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DSSEBundleBuilder, type Signer } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';
import { OcimakeError } from '../errors.js';
import { DSSE_PAYLOAD_TYPE, type Statement } from './statement.js';

// Signing with a key of one's own (`--key FILE`), for air-gapped builds: an ECDSA P-256 key in
// PEM (PKCS#8 or SEC1). The signature is a DSSE envelope in a Sigstore bundle v0.3 whose
// verification material is the key's hint, with no transparency log entry (`--tlog=false`).

export interface KeyPair { privateKey: KeyObject; publicKey: KeyObject; publicPem: string; hint: string }

/** The hint a bundle names its key by: the SHA-256 of the public key's DER (SubjectPublicKeyInfo), in hex. */
export function keyHint(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function loadSigningKey(file: string, passphrase = process.env.OCIMAKE_KEY_PASSWORD): KeyPair {
  let pem: string;
  try { pem = readFileSync(file, 'utf8'); } catch (err) {
    throw new OcimakeError('KEY_INVALID', `cannot read the signing key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { hint: 'pass --key with a PEM file holding an ECDSA P-256 private key' });
  }
  if (pem.includes('SIGSTORE PRIVATE KEY')) {
    throw new OcimakeError('KEY_INVALID', `${file} is a cosign-encrypted key, which ocimake does not read`, { hint: 'export it as PEM (PKCS#8), e.g. "openssl ecparam -genkey -name prime256v1 | openssl pkcs8 -topk8 -nocrypt"' });
  }
  let privateKey: KeyObject;
  try { privateKey = createPrivateKey(passphrase ? { key: pem, passphrase } : pem); } catch (err) {
    throw new OcimakeError('KEY_INVALID', `${file} is not a PEM private key: ${(err as Error).message}`, { hint: 'an ECDSA P-256 private key in PEM (PKCS#8 or SEC1); an encrypted one needs OCIMAKE_KEY_PASSWORD' });
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new OcimakeError('KEY_INVALID', `${file} is a ${privateKey.asymmetricKeyType} key${privateKey.asymmetricKeyDetails?.namedCurve ? ` on ${privateKey.asymmetricKeyDetails.namedCurve}` : ''}, not ECDSA P-256`, { hint: 'Sigstore bundles with keys use ECDSA P-256 (as cosign generate-key-pair makes)' });
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), hint: keyHint(publicKey) };
}

/** A public key (PEM) for verification, with its hint. */
export function loadPublicKey(file: string): { publicKey: KeyObject; hint: string } {
  let pem: string;
  try { pem = readFileSync(file, 'utf8'); } catch (err) {
    throw new OcimakeError('KEY_INVALID', `cannot read the public key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { hint: 'pass --key with the PEM public key that matches the signing key' });
  }
  let publicKey: KeyObject;
  try { publicKey = createPublicKey(pem); } catch (err) {
    throw new OcimakeError('KEY_INVALID', `${file} is not a PEM public (or private) key: ${(err as Error).message}`);
  }
  return { publicKey, hint: keyHint(publicKey) };
}

function keySigner(key: KeyPair): Signer {
  return {
    sign: async (data: Buffer) => ({
      signature: cryptoSign('sha256', data, key.privateKey),
      key: { $case: 'publicKey', publicKey: key.publicPem, hint: key.hint },
    }),
  };
}

/** Signs a statement into a Sigstore bundle v0.3 (DSSE), as JSON bytes. */
export async function signStatement(statement: Statement, key: KeyPair): Promise<Buffer> {
  const builder = new DSSEBundleBuilder({ signer: keySigner(key), witnesses: [] });
  const bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: DSSE_PAYLOAD_TYPE });
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)));
}
