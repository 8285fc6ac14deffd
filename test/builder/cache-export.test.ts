import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import type { BuildProgress } from '../../src/builder/build.js';
import { buildAndExport, type BuildAndExportOptions } from '../../src/builder/export.js';
import type { PushEvent } from '../../src/remote/push.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 8: --cache-to / --cache-from, so a fresh CI runner with an empty disk reuses the
// layers of the last build (W7): every layer CACHED, none compressed, the same digest.

function tree(n: number): Record<string, string> {
  const t: Record<string, string> = {};
  for (let i = 0; i < n; i++) t[`node_modules/pkg${i % 10}/f${i}.js`] = `exports.v = ${i};\n`.repeat(1 + (i % 5));
  return t;
}

const dockerfile = 'FROM scratch AS deps\nCOPY node_modules /app/node_modules\nFROM scratch\nCOPY --from=deps /app /app\nCOPY stamp /stamp\n';

describe('build cache export and import', () => {
  let reg: RunningRegistry;
  beforeAll(async () => { reg = await startRegistry(); });
  afterAll(async () => { await reg.close(); });

  async function run(ctx: string, extra: Partial<BuildAndExportOptions>): Promise<{ digest: string; cached: number; built: number; uploads: number; warnings: string[] }> {
    let cached = 0;
    let built = 0;
    let uploads = 0;
    const warnings: string[] = [];
    const r = await buildAndExport({
      context: ctx, cacheDir: tempDir(),
      onProgress: (e: BuildProgress) => {
        if (e.kind === 'step-done' && e.layerBytes !== undefined) { if (e.cached) cached++; else built++; }
        if (e.kind === 'warning') warnings.push(e.message);
      },
      onPush: (e: PushEvent) => { if (e.kind === 'blob-uploaded') uploads++; },
      ...extra,
    });
    return { digest: r.digest, cached, built, uploads, warnings };
  }

  it('type=registry: a build on an empty cache dir takes every layer from the registry cache and uploads none', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: dockerfile, stamp: 's', ...tree(120) });
    const cacheRef = `${reg.host}/ci/app:buildcache`;
    const first = await run(ctx, { tags: [`${reg.host}/ci/app:1`], push: true, cacheTo: [`type=registry,ref=${cacheRef},mode=max`], cacheFrom: [`type=registry,ref=${cacheRef}`] });
    expect(first.warnings.some((w) => /--cache-from .*not found \(the first build writes it\); building without it/.test(w))).toBe(true);
    const second = await run(ctx, { tags: [`${reg.host}/ci/app:2`], push: true, cacheFrom: [`type=registry,ref=${cacheRef}`] });
    expect(second.digest).toBe(first.digest);
    expect(second.built).toBe(0);
    expect(second.cached).toBe(3);
    expect(second.uploads).toBe(0);
  });

  it('type=local: the cache directory serves a fresh cache dir, and an OCI layout output gets the blobs from it', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: dockerfile, stamp: 'l', ...tree(40) });
    const cacheDir = join(tempDir(), 'cache');
    const first = await run(ctx, { cacheTo: [`type=local,dest=${cacheDir}`] });
    const out = join(tempDir(), 'layout');
    const second = await run(ctx, { cacheFrom: [`type=local,src=${cacheDir}`], outputs: [{ type: 'oci', dest: out }] });
    expect(second.digest).toBe(first.digest);
    expect(second.built).toBe(0);
    // mode=min: the deps stage's own layer was not exported; the final image's two were.
    expect(second.cached).toBe(3);
  });

  it('type=inline: an image pushed with its keys serves as --cache-from REF, the seeds\' pattern', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: dockerfile, stamp: 'i', ...tree(30) });
    const image = `${reg.host}/ci/inline:builder`;
    const first = await run(ctx, { tags: [image], push: true, cacheTo: ['type=inline'] });
    const second = await run(ctx, { tags: [image], push: true, cacheTo: ['type=inline'], cacheFrom: [image] });
    expect(second.digest).toBe(first.digest);
    // The deps stage's layer is not in the image, but it is the same layer as the image's first.
    expect(second.built).toBe(0);
    expect(second.cached).toBe(3);
    expect(second.uploads).toBe(0);
  });

  it('refuses cache types it does not have, with the ones it has', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\n' });
    await expect(run(ctx, { cacheTo: ['type=gha'] })).rejects.toThrow(/type=gha is not supported/);
    await expect(run(ctx, { cacheTo: ['type=registry'] })).rejects.toThrow(/needs ref=REF/);
    await expect(run(ctx, { cacheFrom: ['type=inline'] })).rejects.toThrow(/name the image instead/);
  });

  it('carries the entry indexes of the image layers: a fresh runner builds on its base without downloading the base layers', async () => {
    const log: string[] = [];
    const logged = await startRegistry({ log: (l) => log.push(l) });
    try {
      // A base with a symlinked directory, so where COPY lands depends on the base's listing.
      const baseCtx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY root/ /\n', 'root/srv/www/index.html': 'hi', 'root/opt/keep': 'k', 'root/web': { link: 'srv/www' } });
      const base = await buildAndExport({ context: baseCtx, cacheDir: tempDir(), tags: [`${logged.host}/base/www:1`], push: true });
      const baseManifest = JSON.parse(await (await fetch(`${logged.url}/v2/base/www/manifests/${base.digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).text()) as { layers: { digest: string }[] };
      const ctx = writeTree(tempDir(), { Dockerfile: `FROM ${logged.host}/base/www:1\nCOPY site/ /web/\nCOPY stamp /stamp\n`, 'site/about.html': 'about', stamp: 'x' });
      const cacheRef = `${logged.host}/ci/www:cache`;
      const first = await run(ctx, { tags: [`${logged.host}/ci/www:1`], push: true, cacheTo: [`type=registry,ref=${cacheRef}`] });
      log.length = 0;
      const second = await run(ctx, { tags: [`${logged.host}/ci/www:1`], push: true, cacheFrom: [`type=registry,ref=${cacheRef}`] });
      expect(second.digest).toBe(first.digest);
      expect(second.built).toBe(0);
      // The base's layer was listed from the index in the cache: never downloaded (a HEAD at push is fine).
      expect(log.filter((l) => /\bGET\b/.test(l) && baseManifest.layers.some((b) => l.includes(b.digest)))).toEqual([]);
      // The cache names its index bundle in its config.
      const cacheManifest = JSON.parse(await (await fetch(`${logged.url}/v2/ci/www/manifests/cache`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).text()) as { config: { digest: string }; layers: { mediaType: string }[] };
      const config = JSON.parse(await (await fetch(`${logged.url}/v2/ci/www/blobs/${cacheManifest.config.digest}`)).text()) as { entryIndexes?: number };
      expect(cacheManifest.layers[config.entryIndexes!]?.mediaType).toBe('application/vnd.ocimake.layer-indexes.v1+json');
    } finally {
      await logged.close();
    }
  });
});
