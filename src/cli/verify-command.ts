import type { Command } from 'commander';
import { addNetworkFlags, transportFrom, type NetworkFlags } from './network-flags.js';
import { hostPlatform, parsePlatform } from '../oci/platform.js';
import { OcimakeError } from '../errors.js';
import { Cache } from '../store/cache.js';

/** Registers `ocimake verify IMAGE --key PUB [--type PREDICATE]`. */
export function registerVerify(program: Command): void {
  addNetworkFlags(program
    .command('verify')
    .description('verify the signed attestations (Sigstore bundles, OCI 1.1 referrers) of an image in a registry')
    .argument('<image>', 'registry reference')
    .option('--key <file>', 'the public key (PEM) the attestations were signed with')
    .option('--certificate-identity <id>', 'keyless: the signer\'s identity in its Fulcio certificate (an email or a workflow URI)')
    .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer of that identity, e.g. https://token.actions.githubusercontent.com')
    .option('--trusted-root <file>', 'keyless: the trusted_root.json (Fulcio CA, Rekor and CT log keys) of a private Sigstore; default: the public-good root, through TUF')
    .option('--tuf-mirror <url>', 'keyless: the TUF repository of the public-good root (default https://tuf-repo-cdn.sigstore.dev)')
    .option('--cache-dir <dir>', 'where the TUF metadata of the public-good root is kept (default: the blob cache directory)')
    .option('--type <predicate-type>', 'only attestations of this predicate type, e.g. https://slsa.dev/provenance/v1')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an index (default: the host\'s)')
    .option('--output <format>', 'text (default) or json: the verified statements\' predicates', 'text'))
    .action(async (image: string, o: { key?: string; certificateIdentity?: string; certificateOidcIssuer?: string; trustedRoot?: string; tufMirror?: string; cacheDir?: string; type?: string; platform?: string; output: string } & NetworkFlags) => {
      const [{ verifyImage }, { Remote }] = await Promise.all([import('../attest/verify-image.js'), import('../remote/registry-image.js')]);
      const keyless = o.certificateIdentity !== undefined || o.certificateOidcIssuer !== undefined;
      if (o.key && keyless) throw new OcimakeError('FLAG_INVALID', '--key and --certificate-identity/--certificate-oidc-issuer exclude each other', { hint: 'a bundle is signed with a key or with a certificate' });
      if (!o.key && !keyless) throw new OcimakeError('FLAG_INVALID', 'verify needs --key FILE, or --certificate-identity and --certificate-oidc-issuer', { hint: 'name who you trust to have signed' });
      if (keyless && (!o.certificateIdentity || !o.certificateOidcIssuer)) throw new OcimakeError('FLAG_INVALID', 'keyless verification needs both --certificate-identity and --certificate-oidc-issuer');
      const r = await verifyImage(image, {
        remote: new Remote(transportFrom(o, (m) => process.stderr.write(`${m}\n`))),
        platform: o.platform ? parsePlatform(o.platform) : hostPlatform(),
        trust: o.key ? { key: o.key } : { identity: o.certificateIdentity!, issuer: o.certificateOidcIssuer!, ...(o.trustedRoot ? { trustedRoot: o.trustedRoot } : {}), ...(o.tufMirror ? { tufMirror: o.tufMirror } : {}), tufCache: Cache.open(o.cacheDir).tufDir },
        ...(o.type ? { type: o.type } : {}),
      });
      if (o.output === 'json') process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else for (const v of r.verified) process.stdout.write(`verified ${v.predicateType} ${r.digest} (referrer ${v.referrer}, found through the ${r.via === 'api' ? 'referrers API' : 'sha256- tag'})\n`);
    });
}
