import type { Command } from 'commander';
import type { AttestOptions } from '../attest/attach.js';
import { PUBLIC_GOOD } from '../attest/public-good.js';
import { OcimakeError } from '../errors.js';
import { version } from './version.js';

// The signing flags of `build --sign` and `sign`, as cosign spells them: --key FILE, or
// keyless with --fulcio-url, --rekor-url, --tsa-url and --tlog.

export interface SigningFlags { key?: string; fulcioUrl?: string; rekorUrl?: string; tsaUrl?: string; tlog?: string }

export function addSigningFlags(cmd: Command): Command {
  return cmd
    .option('--key <file>', 'sign with this ECDSA P-256 private key (PEM) instead of keyless; OCIMAKE_KEY_PASSWORD decrypts an encrypted one')
    .option('--fulcio-url <url>', 'Fulcio of a private Sigstore instance (default https://fulcio.sigstore.dev)')
    .option('--rekor-url <url>', 'Rekor of a private Sigstore instance (default https://rekor.sigstore.dev)')
    .option('--tsa-url <url>', 'also get an RFC 3161 timestamp from this timestamp authority')
    .option('--tlog <bool>', 'record keyless signatures in Rekor (default true; false needs --tsa-url)');
}

/** How to sign: with --key, else keyless. */
export function signingFrom(o: SigningFlags): AttestOptions['signing'] {
  if (o.key) {
    if (o.fulcioUrl || o.tsaUrl) throw new OcimakeError('FLAG_INVALID', '--fulcio-url and --tsa-url are for keyless signing, and --key was given', { hint: 'drop --key to sign keyless, or drop those flags' });
    // Signatures made with a key stay off the transparency log (air-gapped builds): --tlog=false says so.
    if (o.tlog !== undefined && parseBool('--tlog', o.tlog)) throw new OcimakeError('FLAG_UNSUPPORTED', '--tlog=true with --key is not supported yet: key signatures are not recorded in Rekor', { hint: 'drop --tlog (or say --tlog=false), or sign keyless' });
    return { kind: 'key', key: o.key };
  }
  const tlog = o.tlog === undefined ? true : parseBool('--tlog', o.tlog);
  return { kind: 'keyless', fulcioURL: o.fulcioUrl ?? PUBLIC_GOOD.fulcio, rekorURL: o.rekorUrl ?? PUBLIC_GOOD.rekor, ...(o.tsaUrl ? { tsaURL: o.tsaUrl } : {}), tlog };
}

/** --sign, --key, --provenance, --sbom as buildx and cosign spell them. */
export function attestOptions(o: SigningFlags & { sign?: boolean; provenance?: string | true; sbom?: string | true }): { attest?: AttestOptions & { version: string }; indexAttest?: { provenance: 'min' | 'max' | false; sbom: boolean; version: string } } {
  const provenance = o.provenance === undefined ? undefined : parseProvenance(o.provenance);
  const sbom = o.sbom === undefined ? false : parseBool('--sbom', o.sbom);
  if (!o.sign) {
    if (o.key) throw new OcimakeError('FLAG_INVALID', '--key is the key of --sign', { hint: 'add --sign' });
    // As buildx: unsigned attestations in the image index (--sign makes them signed referrers instead).
    if (provenance || sbom) return { indexAttest: { provenance: provenance ?? false, sbom, version: version() } };
    return {};
  }
  return { attest: { provenance: provenance ?? 'min', sbom, version: version(), signing: signingFrom(o) } };
}

function parseProvenance(v: string | true): 'min' | 'max' | false {
  if (v === true || v === 'true' || v === 'mode=min') return 'min';
  if (v === 'mode=max') return 'max';
  if (v === 'false') return false;
  throw new OcimakeError('FLAG_INVALID', `--provenance=${v} is not understood`, { hint: 'use --provenance, --provenance=mode=min, --provenance=mode=max or --provenance=false' });
}

export function parseBool(flag: string, v: string | true): boolean {
  if (v === true || v === 'true') return true;
  if (v === 'false') return false;
  throw new OcimakeError('FLAG_INVALID', `${flag}=${v} is not true or false`);
}

