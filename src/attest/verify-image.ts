import { OcimakeError } from '../errors.js';
import { parseReference, repositoryName } from '../oci/reference.js';
import type { Platform } from '../oci/schemas.js';
import { fetchManifest } from '../remote/pull.js';
import type { Remote } from '../remote/registry-image.js';
import { parseIndex } from '../image/from-manifest.js';
import { selectPlatform } from '../oci/select-platform.js';
import { isIndexType } from '../oci/media-types.js';
import { loadPublicKey } from './key-signer.js';
import { BUNDLE_MEDIA_TYPE, listReferrers, readReferrerBlob } from '../remote/referrers.js';
import { verifyBundle, type Trust } from './verify-bundle.js';
import { readFileSync } from 'node:fs';
import { TrustedRoot } from '@sigstore/protobuf-specs';

// `ocimake verify IMAGE --key PUB`: the image's Sigstore-bundle referrers, each verified with
// the key and checked to attest this very manifest, as `cosign verify-attestation` does.

export interface VerifiedAttestation { referrer: string; predicateType: string; predicate: unknown }

/** A key; or an identity and issuer, under a trusted_root.json file or, without one, the public-good root fetched through TUF into `tufCache`. */
export type TrustSpec = { key: string } | { identity: string; issuer: string; trustedRoot?: string; tufCache: string; tufMirror?: string };

async function trustOf(t: TrustSpec): Promise<Trust> {
  if ('key' in t) return { kind: 'key', ...loadPublicKey(t.key) };
  let root: unknown;
  if (t.trustedRoot) {
    try { root = JSON.parse(readFileSync(t.trustedRoot, 'utf8')); } catch (err) {
      throw new OcimakeError('FLAG_INVALID', `--trusted-root ${t.trustedRoot}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { hint: 'a Sigstore trusted_root.json (as cosign trusted-root create writes, or the TUF repository holds)' });
    }
  } else {
    const { getTrustedRoot } = await import('@sigstore/tuf');
    try {
      root = TrustedRoot.toJSON(await getTrustedRoot({ cachePath: t.tufCache, ...(t.tufMirror ? { mirrorURL: t.tufMirror } : {}), retry: 1, timeout: 30_000 }));
    } catch (err) {
      throw new OcimakeError('TRUST_ROOT_UNAVAILABLE', `cannot fetch the Sigstore public-good trusted root through TUF: ${(err as Error).message}`, { hint: `check that ${t.tufMirror ?? 'https://tuf-repo-cdn.sigstore.dev'} is reachable, or pass --trusted-root FILE` });
    }
  }
  return { kind: 'identity', trustedRoot: root, identity: t.identity, issuer: t.issuer };
}

export async function verifyImage(spec: string, opts: { remote: Remote; platform: Platform; trust: TrustSpec; type?: string }): Promise<{ digest: string; verified: VerifiedAttestation[]; via: string }> {
  const trust = await trustOf(opts.trust);
  const by = 'key' in opts.trust ? opts.trust.key : `${opts.trust.identity} (${opts.trust.issuer})`;
  const ref = parseReference(spec);
  const client = opts.remote.client(ref.registry);
  // What the tag names (an index is signed as such by "sign"), and the platform's manifest (which "build --sign" attests).
  const top = await fetchManifest(client, ref);
  const m = isIndexType(top.mediaType) ? await fetchManifest(client, ref, selectPlatform(parseIndex(top.bytes, spec), opts.platform, spec).digest) : top;
  const subjects = top.digest === m.digest ? [m.digest] : [m.digest, top.digest];
  const name = repositoryName(ref);
  const found: { subject: string; digest: string }[] = [];
  let via = 'none';
  for (const subject of subjects) {
    const listed = await listReferrers(client, ref.repository, subject, BUNDLE_MEDIA_TYPE);
    if (listed.referrers.length > 0 && via === 'none') via = listed.via;
    for (const r of listed.referrers) found.push({ subject, digest: r.digest });
  }
  if (found.length === 0) {
    throw new OcimakeError('SIGNATURE_MISSING', `${name}@${m.digest} has no Sigstore bundle referrers`, { hint: 'sign it with "ocimake build --push --sign" or "ocimake sign"' });
  }
  const verified: VerifiedAttestation[] = [];
  const failures: string[] = [];
  for (const r of found) {
    try {
      const st = verifyBundle(await readReferrerBlob(client, ref.repository, r.digest), trust, r.subject, `the attestation ${r.digest.slice(0, 19)}`);
      if (!opts.type || st.predicateType === opts.type) verified.push({ referrer: r.digest, predicateType: st.predicateType, predicate: st.predicate });
    } catch (err) {
      if (!(err instanceof OcimakeError)) throw err;
      failures.push(err.message);
    }
  }
  if (verified.length === 0) {
    throw new OcimakeError('SIGNATURE_INVALID', `no attestation of ${name}@${m.digest}${opts.type ? ` of type ${opts.type}` : ''} verifies with ${by}${failures.length ? `: ${failures.join('; ')}` : ''}`, { hint: 'check the key, or whether the image was signed after it was pushed' });
  }
  return { digest: m.digest, verified, via };
}
