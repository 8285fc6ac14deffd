import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry/index.js';
import { build, type BuildProgress } from '../../src/builder/build.js';
import { buildAndExport } from '../../src/builder/export.js';
import type { PushEvent } from '../../src/remote/push.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 8: the layer cache. A layer is a pure function of its entries, their contents and
// the mtime, so a rebuild with nothing changed writes no tar and no gzip, and uploads nothing.

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => { for (const e of readdirSync(d, { withFileTypes: true })) { if (e.isDirectory()) walk(join(d, e.name)); else out.push(join(d, e.name)); } };
  walk(dir);
  return out.sort();
}

function tree(n: number): Record<string, string> {
  const t: Record<string, string> = {};
  for (let i = 0; i < n; i++) t[`node_modules/pkg${i % 20}/file${i}.js`] = `module.exports = ${i};\n`.repeat(1 + (i % 7));
  return t;
}

describe('the layer cache', () => {
  it('remembers content digests between builds in stat-cache.json, written once, at the end of the build', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\nCOPY b /b\nCOPY c /c\n', a: 'A', b: 'B', c: 'C' });
    const cacheDir = tempDir();
    const { readFileSync, watch } = await import('node:fs');
    let writes = 0;
    const watcher = watch(cacheDir, (_event, name) => { if (name === 'stat-cache.json') writes++; });
    await build({ context: ctx, cacheDir });
    await new Promise((r) => setTimeout(r, 100)); // inotify events arrive asynchronously
    watcher.close();
    const cache = JSON.parse(readFileSync(join(cacheDir, 'stat-cache.json'), 'utf8')) as Record<string, string>;
    const { createHash } = await import('node:crypto');
    for (const f of ['a', 'b', 'c']) {
      const key = Object.keys(cache).find((k) => k.startsWith(`${join(ctx, f)}\0`));
      expect(cache[key!]).toBe(`sha256:${createHash('sha256').update(f.toUpperCase()).digest('hex')}`);
    }
    // One atomic write: a rename into place (the watcher may report it as one or two events).
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThanOrEqual(2);
  });

  const dockerfile = 'FROM scratch AS deps\nCOPY node_modules /app/node_modules\nFROM scratch\nCOPY --from=deps /app /app\nCOPY stamp /stamp\n';

  it('serves every layer of an unchanged rebuild from the cache: same digest, CACHED steps, no new blob written', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: dockerfile, stamp: 'one', ...tree(300) });
    const cacheDir = tempDir();
    const cachedSteps: string[] = [];
    const onProgress = (e: BuildProgress) => { if (e.kind === 'step-done' && e.cached) cachedSteps.push(`${e.stage.index}/${e.index}`); };
    const first = await build({ context: ctx, cacheDir, onProgress });
    // COPY --from=deps /app /app writes the very entries of deps' layer: the same layer, already made.
    expect(cachedSteps).toEqual(['1/0']);
    cachedSteps.length = 0;
    const blobsAfterFirst = files(join(cacheDir, 'blobs'));
    const second = await build({ context: ctx, cacheDir, onProgress });
    expect(second.artifacts.digest).toBe(first.artifacts.digest);
    expect(cachedSteps).toEqual(['0/0', '1/0', '1/1']);
    expect(files(join(cacheDir, 'blobs'))).toEqual(blobsAfterFirst);

    // --no-cache builds again (and finds the same bytes).
    cachedSteps.length = 0;
    const again = await build({ context: ctx, cacheDir, onProgress, noCache: true });
    expect(cachedSteps).toEqual([]);
    expect(again.artifacts.digest).toBe(first.artifacts.digest);
  });

  it('keys on content: a file changed with the same size and mtime is a miss; only the layers that hold it are rebuilt', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: dockerfile, stamp: 'one', ...tree(50) });
    const cacheDir = tempDir();
    const first = await build({ context: ctx, cacheDir });
    const stamp = join(ctx, 'stamp');
    const { mtime } = statSync(stamp);
    writeFileSync(stamp, 'two');
    utimesSync(stamp, mtime, mtime);
    const cached: number[] = [];
    const second = await build({ context: ctx, cacheDir, onProgress: (e) => { if (e.kind === 'step-done' && e.layerBytes !== undefined) cached.push(e.cached ? 1 : 0); } });
    expect(cached).toEqual([1, 1, 0]);
    expect(second.artifacts.digest).not.toBe(first.artifacts.digest);
    expect(second.image.layers[0]!.descriptor.digest).toBe(first.image.layers[0]!.descriptor.digest);
  });

  it('treats a record whose blob is gone, or a record it cannot read, as a miss', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
    const cacheDir = tempDir();
    const first = await build({ context: ctx, cacheDir });
    const layer = first.image.layers[0]!.descriptor.digest;
    rmSync(join(cacheDir, 'blobs', 'sha256', layer.slice(7)));
    const hits: boolean[] = [];
    const onProgress = (e: BuildProgress) => { if (e.kind === 'step-done' && e.layerBytes !== undefined) hits.push(e.cached === true); };
    expect((await build({ context: ctx, cacheDir, onProgress })).artifacts.digest).toBe(first.artifacts.digest);
    for (const rec of files(join(cacheDir, 'layers'))) writeFileSync(rec, '{not json');
    expect((await build({ context: ctx, cacheDir, onProgress })).artifacts.digest).toBe(first.artifacts.digest);
    expect((await build({ context: ctx, cacheDir, onProgress })).artifacts.digest).toBe(first.artifacts.digest);
    expect(hits).toEqual([false, false, true]);
  });

  it('is safe for two builds at once on one cache dir', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: dockerfile, stamp: 'x', ...tree(100) });
    const cacheDir = tempDir();
    const [a, b] = await Promise.all([build({ context: ctx, cacheDir }), build({ context: ctx, cacheDir })]);
    expect(a.artifacts.digest).toBe(b.artifacts.digest);
    expect(files(join(cacheDir, 'layers')).every((f) => f.endsWith('.json'))).toBe(true);
  });

  it('W4: a rebuild and push with nothing changed uploads no blob, PUTs no manifest and keeps the digest', async () => {
    const log: string[] = [];
    const reg = await startRegistry({ log: (line) => log.push(line) });
    try {
      const ctx = writeTree(tempDir(), { Dockerfile: dockerfile, stamp: 'w4', ...tree(200) });
      const cacheDir = tempDir();
      const events: PushEvent[] = [];
      const opts = { context: ctx, cacheDir, tags: [`${reg.host}/w4/app:1`], push: true, onPush: (e: PushEvent) => events.push(e) };
      const first = await buildAndExport(opts);
      // The two layers of the final stage and the config.
      expect(events.filter((e) => e.kind === 'blob-uploaded')).toHaveLength(3);
      expect(log.filter((l) => l.startsWith('PUT /v2/w4/app/manifests/1 '))).toHaveLength(1);
      events.length = 0;
      log.length = 0;
      const second = await buildAndExport(opts);
      expect(second.digest).toBe(first.digest);
      expect(events.filter((e) => e.kind === 'blob-uploaded')).toHaveLength(0);
      expect(events.filter((e) => e.kind === 'blob-exists')).toHaveLength(3);
      // The tag already names this manifest: nothing but HEADs.
      expect(log.filter((l) => !l.startsWith('HEAD '))).toEqual([]);
      expect(log.filter((l) => l.startsWith('HEAD /v2/w4/app/manifests/1 200'))).toHaveLength(1);
    } finally {
      await reg.close();
    }
  });
});
