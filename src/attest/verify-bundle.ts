import type { KeyObject } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { OcimakeError } from '../errors.js';
import { DSSE_PAYLOAD_TYPE, STATEMENT_TYPE, type Statement } from './statement.js';

// Verifying a bundle signed with a key: the DSSE signature over the statement, by the key the
// bundle names (its hint must be the given key's), with no log or timestamp required; then the
// statement's subject must be the image.

/** An empty trusted root: a key-signed bundle needs no CA, log or TSA. */
const EMPTY_ROOT = { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };

/** Who may have signed: a key of one's own, or a certificate identity under a trusted root (Fulcio, Rekor, CT log). */
export type Trust =
  | { kind: 'key'; publicKey: KeyObject; hint: string }
  | { kind: 'identity'; trustedRoot: unknown; identity: string; issuer: string };

/** Verifies a bundle with `key` and returns its statement, whose subject must include `digest`. */
export function verifyKeyBundle(bundleBytes: Buffer, key: { publicKey: KeyObject; hint: string }, digest: string, what: string): Statement {
  return verifyBundle(bundleBytes, { kind: 'key', ...key }, digest, what);
}

/** Verifies a bundle and returns its statement, whose subject must include `digest`. */
export function verifyBundle(bundleBytes: Buffer, trusted: Trust, digest: string, what: string): Statement {
  let bundle;
  try { bundle = bundleFromJSON(JSON.parse(bundleBytes.toString('utf8'))); } catch (err) {
    throw new OcimakeError('SIGNATURE_INVALID', `${what}: not a Sigstore bundle: ${(err as Error).message}`);
  }
  const entity = toSignedEntity(bundle);
  try {
    if (trusted.kind === 'key') {
      const key = trusted;
      const trust = toTrustMaterial(TrustedRoot.fromJSON(EMPTY_ROOT), (hint: string) => {
        if (hint !== key.hint) throw new OcimakeError('SIGNATURE_INVALID', `${what} was signed with another key (${hint.slice(0, 12)}…), not ${key.hint.slice(0, 12)}…`);
        return { publicKey: key.publicKey, validFor: () => true };
      });
      new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
    } else {
      if (bundle.verificationMaterial.content.$case === 'publicKey') throw new OcimakeError('SIGNATURE_INVALID', `${what} was signed with a key, not a certificate identity`, { hint: 'verify it with --key' });
      // A log entry or a TSA timestamp must show the short-lived certificate was valid when it signed.
      new Verifier(toTrustMaterial(TrustedRoot.fromJSON(trusted.trustedRoot)), { tlogThreshold: 0, ctlogThreshold: 1, timestampThreshold: 1 })
        .verify(entity, { subjectAlternativeName: trusted.identity, extensions: { issuer: trusted.issuer } });
    }
  } catch (err) {
    if (err instanceof OcimakeError) throw err;
    throw new OcimakeError('SIGNATURE_INVALID', `${what}: the signature does not verify: ${(err as Error).message}`, { hint: trusted.kind === 'key' ? 'the bundle was changed, or signed with another key' : 'the bundle was changed, or signed by another identity or issuer, or under another trusted root' });
  }
  if (bundle.content.$case !== 'dsseEnvelope' || bundle.content.dsseEnvelope.payloadType !== DSSE_PAYLOAD_TYPE) {
    throw new OcimakeError('SIGNATURE_INVALID', `${what} is not an in-toto attestation (DSSE ${DSSE_PAYLOAD_TYPE})`);
  }
  const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8')) as Statement;
  const [alg, hex] = digest.split(':') as [string, string];
  if (statement._type !== STATEMENT_TYPE || !statement.subject?.some((s) => s.digest?.[alg] === hex)) {
    throw new OcimakeError('SIGNATURE_INVALID', `${what} attests ${statement.subject?.map((s) => Object.entries(s.digest ?? {}).map(([a, h]) => `${a}:${h}`).join()).join(', ') || 'nothing'}, not ${digest}`, { hint: 'the attestation was made for another image' });
  }
  return statement;
}
