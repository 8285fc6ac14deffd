import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildAndExport } from '../../src/builder/export.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { readTar } from '../helpers/tar.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// A builder stage on $BUILDPLATFORM in a multi-platform build (buildx's cross-compiling
// pattern): its RUNs see the stage's platform (uname), and they are the same work for every
// target platform, so the second target answers them from the step cache.

let base: string;
beforeAll(() => { base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`; });

describe('FROM --platform=$BUILDPLATFORM in a multi-platform build', () => {
  it('runs the builder stage for the build platform, once for all targets', async () => {
    const ctx = writeTree(join(tempDir(), 'ctx'), {
      Dockerfile: `FROM --platform=$BUILDPLATFORM ${base} AS builder\nRUN uname -m > /built-on && date -u +%N > /once\nFROM ${base}\nARG TARGETARCH\nCOPY --from=builder /built-on /once /\nRUN echo $TARGETARCH > /target && uname -m > /runs-on\n`,
    });
    const steps: string[] = [];
    const r = await buildAndExport({
      context: ctx, cacheDir: join(tempDir(), 'cache'), isolation: 'native',
      platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }],
      onProgress: (e) => { if (e.kind === 'step-done') steps.push(`${e.platform} ${e.stage.index}:${e.index}${e.cached ? ' cached' : ''}`); },
    });
    const files = async (k: number) => {
      const img = r.images![k]!;
      const top = await readTar(await img.layers.at(-1)!.source.open(img.layers.at(-1)!.descriptor.digest));
      const copied = await readTar(await img.layers.at(-2)!.source.open(img.layers.at(-2)!.descriptor.digest));
      return Object.fromEntries([...top, ...copied].filter((e) => e.type === 'file').map((e) => [e.name, e.content]));
    };
    const amd = await files(0);
    const arm = await files(1);
    expect(amd['built-on']).toBe('x86_64\n');
    expect(arm['built-on']).toBe('x86_64\n');
    expect(arm.target).toBe('arm64\n');
    expect(arm['runs-on']).toBe('aarch64\n');
    // The builder's RUN ran once: the arm64 build found it in the step cache.
    expect(arm.once).toBe(amd.once);
    expect(steps).toContain('linux/arm64 0:0 cached');
  });
});
