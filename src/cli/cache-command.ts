import type { Command } from 'commander';
import { Cache } from '../store/cache.js';
import { cacheUsage, parseSize, pruneCache } from '../store/cache-prune.js';
import { formatBytes } from './progress.js';

/** Registers `ocimake cache du` and `ocimake cache prune [--keep-storage SIZE]`. */
export function registerCache(program: Command): void {
  const cache = program.command('cache').description('show or bound the local cache (blobs, layer records, apk indexes and packages)');
  cache.command('du')
    .description('what the cache holds')
    .option('--cache-dir <dir>', 'cache directory')
    .action(async (o: { cacheDir?: string }) => {
      const cache = Cache.open(o.cacheDir);
      const dir = cache.root;
      const parts = await cacheUsage(cache);
      for (const p of parts) process.stdout.write(`${p.part.padEnd(12)} ${String(p.files).padStart(7)} files  ${formatBytes(p.bytes)}\n`);
      process.stdout.write(`${'total'.padEnd(12)} ${String(parts.reduce((n, p) => n + p.files, 0)).padStart(7)} files  ${formatBytes(parts.reduce((n, p) => n + p.bytes, 0))}  (${dir})\n`);
    });
  cache.command('prune')
    .description('remove cached files, least recently used first (all of them without --keep-storage)')
    .option('--keep-storage <size>', 'keep at most this much, e.g. 10GB')
    .option('--cache-dir <dir>', 'cache directory')
    .action(async (o: { keepStorage?: string; cacheDir?: string }) => {
      const keep = o.keepStorage !== undefined ? parseSize(o.keepStorage) : undefined;
      const r = await pruneCache(Cache.open(o.cacheDir), keep);
      process.stdout.write(`removed ${r.removed} file(s), freed ${formatBytes(r.freed)}; ${formatBytes(r.kept)} kept${r.inUse ? ` (${formatBytes(r.inUse)} of it in use by a build now running)` : ''}\n`);
    });
}
