import type { Command } from 'commander';
import { resolveCacheDir } from '../store/cache-dir.js';
import { hostPlatform, parsePlatform } from '../oci/platform.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** Registers `ocimake inspect IMAGE [--raw] [--platform]`. */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show an image\'s digest, platforms, config and layers (registry ref, oci:DIR[:TAG] or docker-archive:FILE)')
    .argument('<image>', 'the image')
    .option('--raw', 'print the raw manifest or index as served')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an index (default: the host\'s)')
    .option('--insecure-registry <host[:port]>', 'reach this registry over plain HTTP (repeatable)', collect, [])
    .option('--cache-dir <dir>', 'blob cache directory')
    .action(async (image: string, o: { raw?: boolean; platform?: string; insecureRegistry: string[]; cacheDir?: string }) => {
      const [{ inspectImage }, { BlobStore }, { Remote }] = await Promise.all([import('../source/inspect.js'), import('../store/blob-store.js'), import('../remote/registry-image.js')]);
      const r = await inspectImage(image, {
        remote: new Remote({ insecureRegistries: o.insecureRegistry }),
        platform: o.platform ? parsePlatform(o.platform) : hostPlatform(),
        store: new BlobStore(resolveCacheDir(o.cacheDir)),
      });
      if (o.raw) process.stdout.write(`${r.raw}\n`);
      else {
        const { raw: _raw, ...rest } = r;
        process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
      }
    });
}
