import { randomBytes } from 'node:crypto';
import { existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { main } from '../../src/cli/main.js';
import { parseSize, pruneCache } from '../../src/store/cache-prune.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { Cache } from '../../src/store/cache.js';

// Issue 8: `ocimake cache prune [--keep-storage SIZE]` bounds the cache, least recently used first.

describe('ocimake cache', () => {
  it('parses sizes as docker spells them', () => {
    expect(parseSize('512')).toBe(512);
    expect(parseSize('10kb')).toBe(10_240);
    expect(parseSize('1.5g')).toBe(1.5 * 2 ** 30);
    expect(parseSize('2GiB')).toBe(2 * 2 ** 30);
    expect(() => parseSize('lots')).toThrow(/is not a size/);
  });

  it('evicts the least recently used first, keeps what fits, and a pruned cache is only a miss', async () => {
    const cacheDir = tempDir();
    const old = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY big /big\n', big: randomBytes(200_000) });
    const recent = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY small /small\n', small: randomBytes(1000) });
    const a = await build({ context: old, cacheDir });
    const oldBlob = join(cacheDir, 'blobs', 'sha256', a.image.layers[0]!.descriptor.digest.slice(7));
    const past = new Date(Date.now() - 86_400_000);
    utimesSync(oldBlob, past, past);
    const b = await build({ context: recent, cacheDir });
    const recentBlob = join(cacheDir, 'blobs', 'sha256', b.image.layers[0]!.descriptor.digest.slice(7));

    const du = await captured(() => main(['cache', 'du', '--cache-dir', cacheDir]));
    expect(du.stdout).toMatch(/^blobs\s+\d+ files/m);
    expect(du.stdout).toMatch(/^layers\s+2 files/m);

    const r = await pruneCache(Cache.at(cacheDir), 10_000);
    expect(r.removed).toBeGreaterThan(0);
    expect(r.kept).toBeLessThanOrEqual(10_000);
    expect(existsSync(oldBlob)).toBe(false);
    expect(existsSync(recentBlob)).toBe(true);

    const all = await captured(() => main(['cache', 'prune', '--cache-dir', cacheDir]));
    expect(all.stdout).toMatch(/^removed \d+ file\(s\), freed .*; 0 B kept$/m);
    expect((await build({ context: recent, cacheDir })).artifacts.digest).toBe(b.artifacts.digest);
  });
});
