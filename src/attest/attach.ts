import { join } from 'node:path';
import { OcimakeError } from '../errors.js';
import { MergedFs } from '../image/merged-fs.js';
import type { Image } from '../image/image.js';
import { formatReference, type Reference } from '../oci/reference.js';
import type { Descriptor } from '../oci/schemas.js';
import type { Remote } from '../remote/registry-image.js';
import { loadSigningKey, signStatement } from './key-signer.js';
import { signStatementKeyless, type KeylessOptions } from './keyless-signer.js';
import { provenance, type Material } from './provenance.js';
import { BUNDLE_MEDIA_TYPE, pushReferrer } from '../remote/referrers.js';
import { referrerManifest } from '../oci/referrer.js';
import { addLayoutReferrer } from '../layout/oci-layout.js';
import { apkPackages, cyclonedx, imagePackages } from './sbom.js';
import { CYCLONEDX_PREDICATE, SLSA_PROVENANCE_V1, statementFor, type Statement } from './statement.js';

// `ocimake build --push --sign --key FILE [--provenance=mode=min|max] [--sbom]`: the
// attestations of each pushed image, signed, and pushed beside it as OCI 1.1 referrers.

export interface AttestOptions {
  /** A PEM file of an ECDSA P-256 key, or keyless (Fulcio, Rekor, optionally a TSA). */
  signing: { kind: 'key'; key: string } | ({ kind: 'keyless' } & KeylessOptions);
  provenance: 'min' | 'max' | false;
  sbom: boolean;
}

export interface AttestInput {
  image: Image;
  descriptor: Descriptor;
  inputs: { dockerfile: { path: string; digest: string }; materials: Material[]; contextDigest?: string };
  target?: string;
  platform: string;
  buildArgs: Record<string, string>;
  startedOn: string;
  version: string;
  scratch: string;
}

/** Signs statements into bundles: with the key (loaded once), or keyless. */
export function signerFor(signing: AttestOptions['signing']): (st: Statement) => Promise<Buffer> {
  if (signing.kind === 'key') {
    const key = loadSigningKey(signing.key);
    return (st) => signStatement(st, key);
  }
  return (st) => signStatementKeyless(st, signing);
}

/** The statements to attest for one image. */
export async function statements(input: AttestInput, name: string, opts: AttestOptions): Promise<Statement[]> {
  const out: Statement[] = [];
  const apk = opts.provenance === 'max' ? await apkPackages(new MergedFs(input.image, 'the image'), join(input.scratch, 'apk')) : [];
  if (opts.provenance) {
    out.push(statementFor(name, input.descriptor.digest, SLSA_PROVENANCE_V1, provenance({
      dockerfile: input.inputs.dockerfile, ...(input.target ? { target: input.target } : {}), platform: input.platform, buildArgs: input.buildArgs,
      materials: input.inputs.materials, ...(input.inputs.contextDigest ? { contextDigest: input.inputs.contextDigest } : {}), apk, startedOn: input.startedOn, finishedOn: new Date().toISOString(), version: input.version,
    }, opts.provenance)));
  }
  if (opts.sbom) {
    const packages = await imagePackages(new MergedFs(input.image, 'the image'), join(input.scratch, 'sbom'));
    out.push(statementFor(name, input.descriptor.digest, CYCLONEDX_PREDICATE, cyclonedx(name, input.descriptor.digest, packages)));
  }
  return out;
}

/** Signs each statement and adds it to the OCI layout `dir` as a referrer of the image (as ORAS keeps them). */
export async function attestLayout(input: AttestInput, dir: string, name: string, opts: AttestOptions): Promise<{ digest: string; predicateType: string }[]> {
  if (!opts.provenance && !opts.sbom) return [];
  const sign = signerFor(opts.signing);
  const done: { digest: string; predicateType: string }[] = [];
  for (const st of await statements(input, name, opts)) {
    const bundle = await sign(st);
    const r = referrerManifest(input.descriptor, bundle, { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': st.predicateType });
    await addLayoutReferrer(dir, r, bundle);
    done.push({ digest: r.descriptor.digest, predicateType: st.predicateType });
  }
  return done;
}

/** Signs each statement and pushes it as a referrer of the image in every repository it was pushed to. */
export async function attestPushed(input: AttestInput, refs: readonly Reference[], remote: Remote, opts: AttestOptions): Promise<{ repository: string; digest: string; predicateType: string }[]> {
  if (!opts.provenance && !opts.sbom) return [];
  const sign = signerFor(opts.signing);
  const done: { repository: string; digest: string; predicateType: string }[] = [];
  const repos = new Map(refs.map((r) => [`${r.registry}/${r.repository}`, r] as const));
  for (const ref of repos.values()) {
    const name = formatReference({ ...ref, tag: undefined, digest: undefined });
    for (const st of await statements(input, name, opts)) {
      const bundle = await sign(st);
      try {
        const d = await pushReferrer(remote.client(ref.registry), ref.repository, input.descriptor, bundle, {
          'dev.sigstore.bundle.content': 'dsse-envelope',
          'dev.sigstore.bundle.predicateType': st.predicateType,
          'org.opencontainers.image.created': new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        });
        done.push({ repository: name, digest: d.digest, predicateType: st.predicateType });
      } catch (err) {
        throw err instanceof OcimakeError ? new OcimakeError(err.code, `attaching the ${st.predicateType} attestation to ${name}@${input.descriptor.digest}: ${err.message}`, { ...(err.hint ? { hint: err.hint } : {}), cause: err }) : err;
      }
    }
  }
  return done;
}

/** cosign's predicate for a plain signature of an image, in bundle form. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** `ocimake sign IMAGE`: a signed statement about the manifest or index `descriptor`, pushed as its referrer. */
export async function signPushed(ref: Reference, descriptor: Descriptor, remote: Remote, signing: AttestOptions['signing']): Promise<string> {
  const st = statementFor(formatReference({ ...ref, tag: undefined, digest: undefined }), descriptor.digest, COSIGN_SIGN_PREDICATE, {});
  const bundle = await signerFor(signing)(st);
  const d = await pushReferrer(remote.client(ref.registry), ref.repository, descriptor, bundle, {
    'dev.sigstore.bundle.content': 'dsse-envelope',
    'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE,
  });
  return d.digest;
}

export { BUNDLE_MEDIA_TYPE };
