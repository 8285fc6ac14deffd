import type { Command } from 'commander';
import { addNetworkFlags, transportFrom, type NetworkFlags } from './network-flags.js';
import { addSigningFlags, signingFrom, type SigningFlags } from './sign-flags.js';

/** Registers `ocimake sign IMAGE [--key FILE | keyless flags]`. */
export function registerSign(program: Command): void {
  addNetworkFlags(addSigningFlags(program
    .command('sign')
    .description('sign an image in a registry (what its tag names, manifest or index) and push the Sigstore bundle as an OCI 1.1 referrer')
    .argument('<image>', 'registry reference')))
    .action(async (image: string, o: SigningFlags & NetworkFlags) => {
      const [{ signPushed }, { checkIdentityAvailable }, { Remote }, { parseReference }, { fetchManifest }] = await Promise.all([
        import('../attest/attach.js'), import('../attest/keyless-signer.js'), import('../remote/registry-image.js'), import('../oci/reference.js'), import('../remote/pull.js'),
      ]);
      const signing = signingFrom(o);
      if (signing.kind === 'keyless') checkIdentityAvailable(signing);
      else (await import('../attest/key-signer.js')).loadSigningKey(signing.key);
      const remote = new Remote(transportFrom(o, (m) => process.stderr.write(`${m}\n`)));
      const ref = parseReference(image);
      const m = await fetchManifest(remote.client(ref.registry), ref);
      const referrer = await signPushed(ref, { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }, remote, signing);
      process.stderr.write(`signed ${m.digest}: ${referrer}\n`);
    });
}
