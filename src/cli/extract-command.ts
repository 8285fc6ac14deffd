import { rm } from 'node:fs/promises';
import { makeScratchDir, trackTemp } from '../util/temp-files.js';
import type { Command } from 'commander';
import { addNetworkFlags, transportFrom, type NetworkFlags } from './network-flags.js';
import { hostPlatform, parsePlatform } from '../oci/platform.js';

/** Registers `ocimake extract IMAGE PATH... -o DIR`, the daemonless `docker create` + `docker cp`. */
export function registerExtract(program: Command): void {
  addNetworkFlags(program
    .command('extract')
    .description('copy paths out of an image (registry ref, oci:DIR[:TAG] or docker-archive:FILE) into a directory, keeping modes and symlinks')
    .argument('<image>', 'the image')
    .argument('<paths...>', 'paths inside the image')
    .requiredOption('-o, --output <dir>', 'directory to write into (each path keeps its full in-image path)')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an index (default: the host\'s)')
    .option('--cache-dir <dir>', 'blob cache directory'))
    .action(async (image: string, paths: string[], o: { output: string; platform?: string; cacheDir?: string } & NetworkFlags) => {
      const [{ extractPaths }, { MergedFs }, { openImage }, { Cache }, { Remote }] = await Promise.all([
        import('../source/extract.js'), import('../image/merged-fs.js'), import('../source/open.js'), import('../store/cache.js'), import('../remote/registry-image.js'),
      ]);
      const opened = await openImage(image, {
        remote: new Remote(transportFrom(o, (m) => process.stderr.write(`${m}\n`))),
        platform: o.platform ? parsePlatform(o.platform) : hostPlatform(),
        store: Cache.open(o.cacheDir).blobs,
      });
      const mfs = new MergedFs(opened.image, opened.what);
      const scratch = await makeScratchDir('extract');
      const untrack = trackTemp(scratch);
      try {
        const r = await extractPaths(mfs, paths, o.output, scratch, opened.what);
        process.stderr.write(`extracted ${r.files} file(s) from ${opened.what} into ${o.output} (read ${mfs.layersOpened} of ${opened.image.layers.length} layers)\n`);
      } finally {
        await rm(scratch, { recursive: true, force: true });
        untrack();
      }
    });
}
