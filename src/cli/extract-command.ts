import { mkdtemp, rm } from 'node:fs/promises';
import { trackTemp } from '../util/temp-files.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { resolveCacheDir } from '../store/cache-dir.js';
import { hostPlatform, parsePlatform } from '../oci/platform.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** Registers `ocimake extract IMAGE PATH... -o DIR`, the daemonless `docker create` + `docker cp`. */
export function registerExtract(program: Command): void {
  program
    .command('extract')
    .description('copy paths out of an image (registry ref, oci:DIR[:TAG] or docker-archive:FILE) into a directory, keeping modes and symlinks')
    .argument('<image>', 'the image')
    .argument('<paths...>', 'paths inside the image')
    .requiredOption('-o, --output <dir>', 'directory to write into (each path keeps its full in-image path)')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an index (default: the host\'s)')
    .option('--insecure-registry <host[:port]>', 'reach this registry over plain HTTP (repeatable)', collect, [])
    .option('--cache-dir <dir>', 'blob cache directory')
    .action(async (image: string, paths: string[], o: { output: string; platform?: string; insecureRegistry: string[]; cacheDir?: string }) => {
      const [{ extractPaths }, { MergedFs }, { openImage }, { BlobStore }, { Remote }] = await Promise.all([
        import('../source/extract.js'), import('../image/merged-fs.js'), import('../source/open.js'), import('../store/blob-store.js'), import('../remote/registry-image.js'),
      ]);
      const opened = await openImage(image, {
        remote: new Remote({ insecureRegistries: o.insecureRegistry }),
        platform: o.platform ? parsePlatform(o.platform) : hostPlatform(),
        store: new BlobStore(resolveCacheDir(o.cacheDir)),
      });
      const mfs = new MergedFs(opened.image, opened.what);
      const scratch = await mkdtemp(join(tmpdir(), 'ocimake-extract-'));
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
