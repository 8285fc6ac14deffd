import { readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build, type BuildProgress } from '../../src/builder/build.js';
import { workSince, workSnapshot } from '../../src/util/work.js';
import { layerIds } from '../../src/builder/step-cache.js';
import { layoutOf, memoryImage, rawLayer } from '../helpers/layers.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { Cache } from '../../src/store/cache.js';

// Issue 8 (W4): the step cache answers an unchanged COPY from the build context before it is
// planned; planning (destinations resolved on the stage's filesystem, entries placed) happens
// only if a later step reads that filesystem. Work is counted, never timed: resolveSteps
// counts path components walked in the stage's filesystem.

function tree(n: number): Record<string, string> {
  const t: Record<string, string> = {};
  for (let i = 0; i < n; i++) t[`node_modules/pkg${i % 10}/file${i}.js`] = `module.exports = ${i};\n`;
  return t;
}

async function buildCounting(ctx: string, cacheDir: string, extra: { noCache?: boolean; target?: string } = {}) {
  const cached: number[] = [];
  const onProgress = (e: BuildProgress) => { if (e.kind === 'step-done' && e.cached) cached.push(e.index); };
  const before = workSnapshot();
  const r = await build({ context: ctx, cacheDir, onProgress, ...extra });
  return { digest: r.artifacts.digest, cached, work: workSince(before) };
}

/** Builds into one cache dir, makes `change`, builds again there, and builds cold (--no-cache, another cache dir) to compare. */
async function rebuildAfter(ctx: string, change: () => void) {
  const cacheDir = tempDir();
  const first = await buildCounting(ctx, cacheDir);
  change();
  const warm = await buildCounting(ctx, cacheDir);
  const cold = await buildCounting(ctx, tempDir(), { noCache: true });
  return { first, warm, cold };
}

/** Builds twice into a fresh cache dir; the second must answer `cached` without planning, with the first's digest. */
async function answeredTwice(ctx: string, cached: number[]) {
  const cacheDir = tempDir();
  const first = await buildCounting(ctx, cacheDir);
  const second = await buildCounting(ctx, cacheDir);
  expect(second.digest).toBe(first.digest);
  expect(second.cached).toEqual(cached);
  expect(second.work.resolveSteps).toBe(0);
  return { first, cacheDir };
}

describe('the step cache', () => {
  it('answers an unchanged COPY without planning it, with the same digest', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY node_modules /app/node_modules\nCOPY stamp /stamp\n', stamp: 'one', ...tree(200) });
    const cacheDir = tempDir();
    const first = await buildCounting(ctx, cacheDir);
    expect(first.work.resolveSteps).toBeGreaterThan(0);
    expect(readdirSync(join(cacheDir, 'steps')).length).toBeGreaterThan(0);
    const second = await buildCounting(ctx, cacheDir);
    expect(second.digest).toBe(first.digest);
    expect(second.cached).toEqual([0, 1]);
    // Nothing was planned: no path of the stage's filesystem was walked.
    expect(second.work.resolveSteps).toBe(0);
  });

  it('misses when a file changes, even with its size and mtime put back', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY app /app\n', 'app/a.txt': 'aaaa', 'app/b.txt': 'bbbb' });
    const { first, warm: second, cold } = await rebuildAfter(ctx, () => {
      writeFileSync(join(ctx, 'app/a.txt'), 'AAAA');
      utimesSync(join(ctx, 'app/a.txt'), new Date(0), new Date(0));
    });
    expect(second.digest).not.toBe(first.digest);
    expect(second.digest).toBe(cold.digest);
    expect(second.cached).toEqual([]);
  });

  it('plans a layer it answered when a later step reads the filesystem, as a cold build does', async () => {
    // The second COPY lands through a symlink the first one wrote; the third stage copies
    // out of the first: both read the filesystem of steps the step cache answered.
    const ctx = writeTree(tempDir(), {
      Dockerfile: 'FROM scratch AS base\nCOPY app /app\nCOPY more /app/link/\nFROM scratch\nCOPY --from=base /app/real /out\n',
      'app/real/x.txt': 'x',
      'more/y.txt': 'y',
    });
    symlinkSync('real', join(ctx, 'app/link'));
    const { warm, cold } = await rebuildAfter(ctx, () => writeFileSync(join(ctx, 'more/y.txt'), 'changed'));
    expect(warm.digest).toBe(cold.digest);
    // COPY app was answered by its step record, then planned for the COPY that reads through it.
    expect(warm.cached).toContain(0);
    expect(warm.work.resolveSteps).toBeGreaterThan(0);
  });

  it('names the answered step\'s line when planning it later fails (its source went away meanwhile)', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY app /app\nCOPY more /app/\n', 'app/x.txt': 'x', 'more/y.txt': 'y' });
    const cacheDir = tempDir();
    await buildCounting(ctx, cacheDir);
    writeFileSync(join(ctx, 'more/y.txt'), 'changed');
    // Once line 2 is answered by its record, its source is removed: line 3 reads the filesystem,
    // which plans line 2 then, and that fails. The error is line 2's, as in a cold build.
    const onProgress = (e: BuildProgress) => { if (e.kind === 'step-done' && e.index === 0 && e.cached) rmSync(join(ctx, 'app'), { recursive: true }); };
    await expect(build({ context: ctx, cacheDir, onProgress })).rejects.toThrow(/Dockerfile:2: COPY/);
  });

  it('keys on the layers below: the same COPY on another base is not answered by the first one', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\nCOPY b /b\n', a: 'one', b: 'b' });
    const { warm, cold } = await rebuildAfter(ctx, () => writeFileSync(join(ctx, 'a'), 'two'));
    expect(warm.digest).toBe(cold.digest);
    // COPY b is the same layer (the layer cache's hit, keyed by content), found through its own key.
    expect(warm.cached).toEqual([1]);
  });

  it('are counted and pruned with the rest of the cache', async () => {
    const { cacheUsage, pruneCache } = await import('../../src/store/cache-prune.js');
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
    const cacheDir = tempDir();
    await buildCounting(ctx, cacheDir);
    expect((await cacheUsage(Cache.at(cacheDir))).find((p) => p.part === 'steps')?.files).toBe(1);
    await pruneCache(Cache.at(cacheDir));
    expect((await cacheUsage(Cache.at(cacheDir))).find((p) => p.part === 'steps')?.files).toBe(0);
    // A pruned cache answers nothing: the step is made again, with the same digest.
    const again = await buildCounting(ctx, cacheDir);
    expect(again.cached).toEqual([]);
  });

  it('records steps under --no-cache too, so the next build is answered', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY app /app\n', 'app/a': 'a' });
    const cacheDir = tempDir();
    const first = await buildCounting(ctx, cacheDir, { noCache: true });
    expect(first.cached).toEqual([]);
    const second = await buildCounting(ctx, cacheDir);
    expect(second.digest).toBe(first.digest);
    expect(second.cached).toEqual([0]);
    expect(second.work.resolveSteps).toBe(0);
  });

  it('answers an unchanged COPY --from of a stage without planning it, and misses when the stage changes', async () => {
    const ctx = writeTree(tempDir(), {
      Dockerfile: 'FROM scratch AS deps\nCOPY node_modules /app/node_modules\nFROM scratch\nCOPY --from=deps /app/node_modules /srv/node_modules\nCOPY stamp /stamp\n',
      stamp: 'one', ...tree(300),
    });
    // Neither the stage nor the COPY --from of it is planned (step indices count within each stage).
    const { first } = await answeredTwice(ctx, [0, 0, 1]);
    const { warm, cold } = await rebuildAfter(ctx, () => writeFileSync(join(ctx, 'node_modules/pkg3/file3.js'), 'changed\n'));
    expect(warm.digest).toBe(cold.digest);
    expect(warm.digest).not.toBe(first.digest);
  });

  it('plans an answered COPY --from, and the stage it read, when a later step reads the filesystem', async () => {
    const ctx = writeTree(tempDir(), {
      Dockerfile: 'FROM scratch AS deps\nCOPY node_modules /app/node_modules\nFROM scratch\nCOPY --from=deps /app /srv\nCOPY extra /srv/node_modules/pkg1/\n',
      extra: 'one', ...tree(50),
    });
    const { warm, cold } = await rebuildAfter(ctx, () => writeFileSync(join(ctx, 'extra'), 'two'));
    expect(warm.digest).toBe(cold.digest);
    expect(warm.cached.length).toBe(2);
    expect(warm.work.resolveSteps).toBeGreaterThan(0);
  });

  it('answers an unchanged ADD of a local archive, and misses when the archive changes', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nADD app.tar.gz /srv/\n' });
    writeFileSync(join(ctx, 'app.tar.gz'), await rawLayer([{ name: 'app/main.js', content: 'one' }]));
    const { first } = await answeredTwice(ctx, [0]);
    const archive = await rawLayer([{ name: 'app/main.js', content: 'two' }]);
    const { warm, cold } = await rebuildAfter(ctx, () => writeFileSync(join(ctx, 'app.tar.gz'), archive));
    expect(warm.digest).toBe(cold.digest);
    expect(warm.digest).not.toBe(first.digest);
  });

  it('answers an unchanged COPY --from of an image, and misses when the tag names another image', async () => {
    const image = tempDir();
    const ref = await layoutOf(image, [await rawLayer([{ name: 'bin/tool', content: 'v1' }, { name: 'bin/other', content: 'o' }])]);
    const ctx = writeTree(tempDir(), { Dockerfile: `FROM scratch\nCOPY --from=${ref} /bin/tool /usr/bin/tool\n` });
    const { cacheDir } = await answeredTwice(ctx, [0]);
    await layoutOf(image, [await rawLayer([{ name: 'bin/tool', content: 'v2' }])]);
    const third = await buildCounting(ctx, cacheDir);
    expect(third.cached).toEqual([]);
    expect(third.digest).toBe((await buildCounting(ctx, tempDir(), { noCache: true })).digest);
  });

  it('names layers by blob digest as well as diffID (a config cannot claim another image\'s layers)', async () => {
    const a = memoryImage([await rawLayer([{ name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }])]).image;
    const b = memoryImage([await rawLayer([{ name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n' }])]).image;
    const liar = { ...b, layers: b.layers.map((l, i) => ({ ...l, diffId: a.layers[i]!.diffId })) };
    expect(layerIds(liar)).not.toEqual(layerIds(a));
  });
});
