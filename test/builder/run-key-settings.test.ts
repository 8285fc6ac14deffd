import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildAndExport, type BuildAndExportOptions } from '../../src/builder/export.js';
import { copyMinirootfs } from '../helpers/alpine-images.js';
import { readTar } from '../helpers/tar.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// What stage.ts adds to RUN's step key besides runStepKey's own inputs (run-step-key.test.ts):
// the stage's platform, and the build's --add-host, --shm-size and --ulimit. Each flipped alone
// must miss; the same again must hit.

let base: string;
beforeAll(async () => {
  // The same layer for two platforms: only the stage's platform tells their RUNs apart.
  const dir = tempDir();
  const ctx = writeTree(join(dir, 'base'), { Dockerfile: 'FROM scratch\nADD alpine-minirootfs.tar.gz /\n' });
  copyMinirootfs(ctx);
  await buildAndExport({ context: ctx, platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }], outputs: [{ type: 'oci', dest: join(dir, 'layout'), tar: false }], tags: ['base:1'], cacheDir: join(dir, 'cache') });
  base = `oci:${join(dir, 'layout')}:1`;
});

/** Builds a RUN that writes what uname says and the clock's nanoseconds: a RUN that ran again writes another time. */
async function run(cacheDir: string, arch: string, more: Partial<BuildAndExportOptions> = {}) {
  const ctx = writeTree(tempDir(), { Dockerfile: `FROM --platform=linux/${arch} ${base}\nRUN uname -m > /m && date +%s%N > /t\n` });
  const r = await buildAndExport({ context: ctx, cacheDir, isolation: 'native', ...more });
  const top = r.image.layers.at(-1)!;
  const files = await readTar(await top.source.open(top.descriptor.digest));
  return { m: files.find((e) => e.name === 'm')?.content, t: files.find((e) => e.name === 't')?.content };
}

describe('RUN step key: what the build adds', () => {
  it('the stage\'s platform: the same layers for another platform miss, and uname answers for it', async () => {
    const cache = join(tempDir(), 'cache');
    const first = await run(cache, 'amd64');
    expect(first.m).toBe('x86_64\n');
    expect(await run(cache, 'amd64')).toEqual(first);
    const other = await run(cache, 'arm64');
    expect(other.m).toBe('aarch64\n');
    expect(other.t).not.toBe(first.t);
  });

  it('--add-host, --shm-size and --ulimit each miss alone', async () => {
    const cache = join(tempDir(), 'cache');
    const baseline = { addHosts: new Map([['h.internal', '10.0.0.1']]), shmBytes: 64 << 20, limits: ['--nofile=512:1024'] };
    const seen = [(await run(cache, 'amd64')).t, (await run(cache, 'amd64', { runHost: baseline })).t];
    for (const runHost of [{ ...baseline, addHosts: new Map([['h.internal', '10.0.0.2']]) }, { ...baseline, shmBytes: 128 << 20 }, { ...baseline, limits: ['--nofile=256:1024'] }]) {
      const flipped = await run(cache, 'amd64', { runHost });
      expect(seen, JSON.stringify(runHost, (_k, v: unknown) => (v instanceof Map ? [...v] : v))).not.toContain(flipped.t);
      seen.push(flipped.t);
      expect(await run(cache, 'amd64', { runHost })).toEqual(flipped);
    }
  });
});
