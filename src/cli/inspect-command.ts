import type { Command } from 'commander';
import { addNetworkFlags, transportFrom, type NetworkFlags } from './network-flags.js';
import { hostPlatform, parsePlatform } from '../oci/platform.js';

/** Registers `ocimake inspect IMAGE [--raw] [--platform]`. */
export function registerInspect(program: Command): void {
  addNetworkFlags(program
    .command('inspect')
    .description('show an image\'s digest, platforms, config and layers (registry ref, oci:DIR[:TAG] or docker-archive:FILE)')
    .argument('<image>', 'the image')
    .option('--raw', 'print the raw manifest or index as served')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an index (default: the host\'s)')
    .option('--cache-dir <dir>', 'blob cache directory'))
    .action(async (image: string, o: { raw?: boolean; platform?: string; cacheDir?: string } & NetworkFlags) => {
      const [{ inspectImage }, { Cache }, { Remote }] = await Promise.all([import('../source/inspect.js'), import('../store/cache.js'), import('../remote/registry-image.js')]);
      const r = await inspectImage(image, {
        remote: new Remote(transportFrom(o, (m) => process.stderr.write(`${m}\n`))),
        platform: o.platform ? parsePlatform(o.platform) : hostPlatform(),
        store: Cache.open(o.cacheDir).blobs,
      });
      if (o.raw) process.stdout.write(`${r.raw}\n`);
      else {
        const { raw: _raw, ...rest } = r;
        process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
      }
    });
}
