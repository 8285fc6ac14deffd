import type { Command } from 'commander';
import { addNetworkFlags, transportFrom, type NetworkFlags } from './network-flags.js';
import { hostPlatform, parsePlatform } from '../oci/platform.js';

/** Registers `ocimake verify IMAGE --key PUB [--type PREDICATE]`. */
export function registerVerify(program: Command): void {
  addNetworkFlags(program
    .command('verify')
    .description('verify the signed attestations (Sigstore bundles, OCI 1.1 referrers) of an image in a registry')
    .argument('<image>', 'registry reference')
    .requiredOption('--key <file>', 'the public key (PEM) the attestations were signed with')
    .option('--type <predicate-type>', 'only attestations of this predicate type, e.g. https://slsa.dev/provenance/v1')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an index (default: the host\'s)')
    .option('--output <format>', 'text (default) or json: the verified statements\' predicates', 'text'))
    .action(async (image: string, o: { key: string; type?: string; platform?: string; output: string } & NetworkFlags) => {
      const [{ verifyImage }, { Remote }] = await Promise.all([import('../attest/verify-image.js'), import('../remote/registry-image.js')]);
      const r = await verifyImage(image, {
        remote: new Remote(transportFrom(o, (m) => process.stderr.write(`${m}\n`))),
        platform: o.platform ? parsePlatform(o.platform) : hostPlatform(),
        key: o.key,
        ...(o.type ? { type: o.type } : {}),
      });
      if (o.output === 'json') process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else for (const v of r.verified) process.stdout.write(`verified ${v.predicateType} ${r.digest} (referrer ${v.referrer}, found through the ${r.via === 'api' ? 'referrers API' : 'sha256- tag'})\n`);
    });
}
