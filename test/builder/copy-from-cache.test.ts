import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { build, type BuildProgress } from '../../src/builder/build.js';
import { buildAndExport } from '../../src/builder/export.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { readySource } from '../../src/layer/entry.js';

// Issue 8 (W2): a COPY --from step keys the files it copies by where they are in the source
// image (layer digest and path), so a cache hit reads nothing of the source: no layer is
// gunzipped, spooled or even downloaded. A source that changes is a miss, never a stale hit.

describe('COPY --from through the layer cache', () => {
  let reg: RunningRegistry;
  const requests: string[] = [];
  beforeAll(async () => { reg = await startRegistry({ log: (l) => requests.push(l) }); });
  afterAll(async () => { await reg.close(); });

  /** Pushes a two-layer source image: a 256 KiB filler below, the tool on top. */
  async function pushSource(tool: string): Promise<string[]> {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY filler.bin /opt/filler.bin\nCOPY tool /usr/local/bin/tool\n', tool, 'filler.bin': randomBytes(256 * 1024) });
    const r = await buildAndExport({ context: ctx, cacheDir: tempDir(), tags: [`${reg.host}/src/tools:1`], push: true });
    const manifest = JSON.parse(await (await fetch(`${reg.url}/v2/src/tools/manifests/${r.digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).text()) as { layers: { digest: string }[] };
    return manifest.layers.map((l) => l.digest);
  }

  it('hits without reading or downloading the source layers, and misses when the source changes', async () => {
    const layers = await pushSource('#!/bin/sh\necho one\n');
    const ctx = writeTree(tempDir(), { Dockerfile: `FROM scratch\nCOPY --from=${reg.host}/src/tools:1 /usr/local/bin/tool /tool\nCOPY stamp /stamp\n`, stamp: 'a' });
    const cacheDir = tempDir();
    const first = await build({ context: ctx, cacheDir });
    // The source's layers leave the cache dir (as a prune would take them); their entry indexes stay.
    for (const d of layers) rmSync(join(cacheDir, 'blobs', 'sha256', d.slice(7)), { force: true });
    requests.length = 0;
    const cached: string[] = [];
    const onProgress = (e: BuildProgress) => { if (e.kind === 'step-done' && e.layerBytes !== undefined) cached.push(`${e.index}:${e.cached ? 'cached' : 'written'}`); };
    const second = await build({ context: ctx, cacheDir, onProgress });
    expect(second.artifacts.digest).toBe(first.artifacts.digest);
    expect(cached).toEqual(['0:cached', '1:cached']);
    expect(requests.filter((l) => layers.some((d) => l.includes(d)))).toEqual([]);

    // The tag moves to an image with another tool: a miss, and the new bytes.
    await pushSource('#!/bin/sh\necho two\n');
    cached.length = 0;
    const third = await build({ context: ctx, cacheDir, onProgress });
    expect(cached).toEqual(['0:written', '1:cached']);
    expect(third.artifacts.digest).not.toBe(first.artifacts.digest);
    const top = third.image.layers[0]!;
    const { MergedFs } = await import('../../src/image/merged-fs.js');
    const { copyOut } = await import('../../src/image/copy-out.js');
    const [tool] = await copyOut(new MergedFs({ config: third.image.config, layers: [top] }), ['/tool'], tempDir(), 'the result');
    const e = tool!.entries[0]!.entry;
    const src = e.type === 'file' ? await readySource(e.source) : undefined;
    expect(src?.kind === 'bytes' ? src.data.toString() : undefined).toBe('#!/bin/sh\necho two\n');
  });

  it('gives the same layer with --no-cache, cold and warm, and records it under both keys', async () => {
    await pushSource('#!/bin/sh\necho same\n');
    const ctx = writeTree(tempDir(), { Dockerfile: `FROM scratch\nCOPY --from=${reg.host}/src/tools:1 /usr/local/bin/tool /tool\n` });
    const cacheDir = tempDir();
    const noCache = await build({ context: ctx, cacheDir, noCache: true });
    // Two records for one layer: by where the file is, and by its content.
    expect(readdirSync(join(cacheDir, 'layers')).flatMap((d) => readdirSync(join(cacheDir, 'layers', d)))).toHaveLength(2);
    let hits = 0;
    const warm = await build({ context: ctx, cacheDir, onProgress: (e) => { if (e.kind === 'step-done' && e.cached) hits++; } });
    expect(hits).toBe(1);
    expect(warm.artifacts.digest).toBe(noCache.artifacts.digest);
    const cold = await build({ context: ctx, cacheDir: tempDir() });
    expect(cold.artifacts.digest).toBe(noCache.artifacts.digest);
  });
});
