import type { Command } from 'commander';
import { parseReference } from '../oci/reference.js';
import { addNetworkFlags, transportFrom, type NetworkFlags } from './network-flags.js';
import { Progress, PROGRESS_MODES, type ProgressMode } from './progress.js';
import { OcimakeError } from '../errors.js';

/** Registers `ocimake push SOURCE REF...`, crane's and skopeo's push of a local image. */
export function registerPush(program: Command): void {
  addNetworkFlags(program
    .command('push')
    .description('push a local image (OCI layout DIR or oci:DIR[:TAG], OCI archive FILE.tar, docker-archive:FILE) to a registry, digests unchanged')
    .argument('<source>', 'the local image')
    .argument('<ref...>', 'where to push, e.g. ghcr.io/acme/app:1.0 (several tags may follow)')
    .option('--progress <mode>', 'auto | plain | tty | quiet | rawjson', 'auto')
    .option('-q, --quiet', 'print only the digest')
    .option('--cache-dir <dir>', 'blob cache directory (archives are imported there)'))
    .action(async (source: string, refArgs: string[], o: { progress: string; quiet?: boolean; cacheDir?: string } & NetworkFlags) => {
      const mode = (o.quiet ? 'quiet' : o.progress) as ProgressMode;
      if (!PROGRESS_MODES.includes(mode)) throw new OcimakeError('FLAG_INVALID', `--progress=${o.progress} is not a progress mode`, { hint: `use ${PROGRESS_MODES.join(', ')}` });
      const refs = refArgs.map((r) => parseReference(r));
      const progress = new Progress(mode);
      const [{ pushLocal }, { Cache }, { Remote }] = await Promise.all([import('../source/push-local.js'), import('../store/cache.js'), import('../remote/registry-image.js')]);
      const r = await pushLocal(source, refs, {
        remote: new Remote(transportFrom(o, (m) => progress.notice(m))),
        store: Cache.open(o.cacheDir).blobs,
        onEvent: (e) => progress.push(e),
      });
      if (mode === 'quiet') process.stdout.write(`${r.digest}\n`);
      else progress.done(`pushed ${r.digest} (${r.mediaType.includes('index') ? 'index' : 'manifest'}) to ${refArgs.join(', ')}`);
    });
}
