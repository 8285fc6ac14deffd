import { join } from 'node:path';
import { withContext } from '../errors.js';
import { MergedFs } from '../image/merged-fs.js';
import type { Image } from '../image/image.js';
import { repositoryName, type Reference } from '../oci/reference.js';
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
  inputs: { dockerfile: { path: string; digest: string }; materials: Material[]; contextDigest?: string; lock?: { path: string; digest: string } };
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

/** What to attest of one image, once: each predicate, or a function of the name (the SBOM names the image). */
interface Predicate { type: string; of: (name: string) => unknown }

export async function predicates(input: AttestInput, opts: Pick<AttestOptions, 'provenance' | 'sbom'>): Promise<Predicate[]> {
  const out: Predicate[] = [];
  // The image's packages are read once: the SBOM lists them all, max provenance names the apk ones.
  const fs = new MergedFs(input.image, 'the image');
  const found = opts.sbom ? await imagePackages(fs, join(input.scratch, 'sbom')) : undefined;
  const apk = opts.provenance !== 'max' ? [] : found ? found.flatMap((p) => (p.kind === 'apk' ? [p] : [])) : await apkPackages(fs, join(input.scratch, 'apk'));
  if (opts.provenance) {
    const predicate = provenance({
      dockerfile: input.inputs.dockerfile, ...(input.target ? { target: input.target } : {}), platform: input.platform, buildArgs: input.buildArgs,
      materials: input.inputs.materials, ...(input.inputs.contextDigest ? { contextDigest: input.inputs.contextDigest } : {}), ...(input.inputs.lock ? { lock: input.inputs.lock } : {}), apk, startedOn: input.startedOn, finishedOn: new Date().toISOString(), version: input.version,
    }, opts.provenance);
    out.push({ type: SLSA_PROVENANCE_V1, of: () => predicate });
  }
  if (found) out.push({ type: CYCLONEDX_PREDICATE, of: (name) => cyclonedx(name, input.descriptor.digest, found) });
  return out;
}

/** The annotations of a bundle referrer, as cosign and actions/attest write them. */
function referrerAnnotations(predicateType: string): Record<string, string> {
  return {
    'dev.sigstore.bundle.content': 'dsse-envelope',
    'dev.sigstore.bundle.predicateType': predicateType,
    'org.opencontainers.image.created': new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

/** Signs each attestation and adds it to the OCI layout `dir` as a referrer of the image (as ORAS keeps them). */
export async function attestLayout(input: AttestInput, dir: string, name: string, opts: AttestOptions): Promise<{ digest: string; predicateType: string }[]> {
  const sign = signerFor(opts.signing);
  const done: { digest: string; predicateType: string }[] = [];
  for (const p of await predicates(input, opts)) {
    const bundle = await sign(statementFor(name, input.descriptor.digest, p.type, p.of(name)));
    const r = referrerManifest(input.descriptor, bundle, referrerAnnotations(p.type));
    await addLayoutReferrer(dir, r, bundle);
    done.push({ digest: r.descriptor.digest, predicateType: p.type });
  }
  return done;
}

/** Signs each attestation and pushes it as a referrer of the image in every repository it was pushed to. */
export async function attestPushed(input: AttestInput, refs: readonly Reference[], remote: Remote, opts: AttestOptions): Promise<{ repository: string; digest: string; predicateType: string }[]> {
  const sign = signerFor(opts.signing);
  const done: { repository: string; digest: string; predicateType: string }[] = [];
  const all = await predicates(input, opts);
  const repos = new Map(refs.map((r) => [repositoryName(r), r] as const));
  for (const [name, ref] of repos) {
    for (const p of all) {
      const bundle = await sign(statementFor(name, input.descriptor.digest, p.type, p.of(name)));
      try {
        const d = await pushReferrer(remote.client(ref.registry), ref.repository, input.descriptor, bundle, referrerAnnotations(p.type));
        done.push({ repository: name, digest: d.digest, predicateType: p.type });
      } catch (err) {
        throw withContext(`attaching the ${p.type} attestation to ${name}@${input.descriptor.digest}`, err);
      }
    }
  }
  return done;
}

/** cosign's predicate for a plain signature of an image, in bundle form. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** `ocimake sign IMAGE`: a signed statement about the manifest or index `descriptor`, pushed as its referrer. */
export async function signPushed(ref: Reference, descriptor: Descriptor, remote: Remote, signing: AttestOptions['signing']): Promise<string> {
  const bundle = await signerFor(signing)(statementFor(repositoryName(ref), descriptor.digest, COSIGN_SIGN_PREDICATE, {}));
  return (await pushReferrer(remote.client(ref.registry), ref.repository, descriptor, bundle, referrerAnnotations(COSIGN_SIGN_PREDICATE))).digest;
}

export { BUNDLE_MEDIA_TYPE };
