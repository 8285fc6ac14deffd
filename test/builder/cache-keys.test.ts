import { chmodSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildAndExport } from '../../src/builder/export.js';
import { layerKey, LAYER_FORMAT } from '../../src/layer/layer-cache.js';
import type { LayerEntry } from '../../src/layer/entry.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 25, item 5: a cache key is only as good as the test that flips each of its inputs.
// The layer key (entries and contents) and the COPY step key (what the context walk saw, the
// variables, WORKDIR) are flipped here, each flip expected to miss and give the right layer;
// what must not matter is expected to hit. Golden digests pin canonical builds, so a change
// of layer or config bytes cannot pass without a format bump.

describe('the layer key', () => {
  const file = (o: Partial<Extract<LayerEntry, { type: 'file' }>> = {}): LayerEntry => ({ type: 'file', path: 'app/run', mode: 0o755, uid: 0, gid: 0, size: 5, source: { kind: 'bytes', data: Buffer.from('hello') }, ...o });
  const key = (entries: LayerEntry[], digests = new Map([['app/run', 'sha256:aa'], ['app/other', 'sha256:aa']]), mtime = 0, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') => layerKey(entries, digests, mtime, mediaType);
  const k0 = key([file()]);
  it.each([
    ['a mode bit', () => key([file({ mode: 0o644 })])],
    ['the setuid bit', () => key([file({ mode: 0o4755 })])],
    ['the owner', () => key([file({ uid: 1000 })])],
    ['the group', () => key([file({ gid: 1000 })])],
    ['the content', () => key([file()], new Map([['app/run', 'sha256:bb']]))],
    ['the size', () => key([file({ size: 6 })])],
    ['the path', () => key([file({ path: 'app/other' })])],
    ['the type', () => key([{ type: 'directory', path: 'app/run', mode: 0o755, uid: 0, gid: 0 }])],
    ['an entry more', () => key([file(), file({ path: 'app/other' })])],
    ['the mtime (SOURCE_DATE_EPOCH)', () => key([file()], undefined, 1_700_000_000)],
    ['the media type (compression)', () => key([file()], undefined, 0, 'application/vnd.oci.image.layer.v1.tar+zstd')],
  ])('misses when %s changes', (_what, flipped) => {
    expect(flipped()).not.toBe(k0);
  });

  it('misses when a symlink or hardlink target changes', () => {
    for (const type of ['symlink', 'hardlink'] as const) {
      const link = (linkname: string): LayerEntry => ({ type, path: 'l', mode: 0o777, uid: 0, gid: 0, linkname });
      expect(key([link('a')])).not.toBe(key([link('b')]));
    }
  });
});

describe('the COPY step key, through real rebuilds', () => {
  it('misses on each input that changes the layer, and the layer is the right one', async () => {
    const cacheDir = tempDir();
    const ctx = tempDir();
    mkdirSync(join(ctx, 'src'));
    writeFileSync(join(ctx, 'src', 'app'), 'v1');
    const df = 'FROM scratch\nARG DEST=opt\nWORKDIR /w\nCOPY src/ $DEST/\n';
    writeFileSync(join(ctx, 'Dockerfile'), df);
    const { build } = await import('../../src/builder/build.js');
    const entry = async (buildArgs: Record<string, string> = {}) => {
      const r = await build({ context: ctx, cacheDir, buildArgs });
      const { readTar } = await import('../helpers/tar.js');
      const top = r.image.layers.at(-1)!;
      return { digest: r.artifacts.digest, entries: flatten([await readTar(await top.source.open(top.descriptor.digest))]) };
    };
    const first = await entry();
    expect(first.entries.get('w/opt/app')).toMatchObject({ mode: 0o644, content: 'v1' });
    // An ARG value the COPY expands.
    expect((await entry({ DEST: 'srv' })).entries.get('w/srv/app')?.content).toBe('v1');
    // A mode bit of a source file.
    chmodSync(join(ctx, 'src', 'app'), 0o755);
    expect((await entry()).entries.get('w/opt/app')?.mode).toBe(0o755);
    // The content, with the same size and the old mtime put back (ctime still moves).
    const st = (await import('node:fs')).statSync(join(ctx, 'src', 'app'));
    writeFileSync(join(ctx, 'src', 'app'), 'v2');
    utimesSync(join(ctx, 'src', 'app'), st.atime, st.mtime);
    expect((await entry()).entries.get('w/opt/app')?.content).toBe('v2');
    // WORKDIR, which a relative destination lands under.
    writeFileSync(join(ctx, 'Dockerfile'), df.replace('WORKDIR /w', 'WORKDIR /x'));
    expect((await entry()).entries.get('x/opt/app')?.content).toBe('v2');
    // What must not matter: a touched file whose bytes are the same gives the same image.
    writeFileSync(join(ctx, 'Dockerfile'), df);
    const before = await entry();
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(ctx, 'src', 'app'), later, later);
    expect((await entry()).digest).toBe(before.digest);
    // ... and so does a build arg no instruction reads.
    expect((await entry({ UNUSED: 'x' })).digest).toBe(before.digest);
  });
});

describe('golden digests (they move only with a format bump)', () => {
  // Bump LAYER_FORMAT (layer bytes) or the step-cache FORMAT together with these pins.
  it('FROM scratch + COPY, one platform and a multi-platform index', async () => {
    expect(LAYER_FORMAT).toBe('ocimake-layer-v3');
    const ctx = tempDir();
    writeFileSync(join(ctx, 'hello.txt'), 'hello, ocimake\n');
    chmodSync(join(ctx, 'hello.txt'), 0o644);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello"]\n');
    const one = await buildAndExport({ context: ctx, cacheDir: tempDir(), platform: parsePlatform('linux/amd64'), outputs: [] });
    expect(one.digest).toBe(GOLDEN.scratchCopy);
    const multi = await buildAndExport({ context: ctx, cacheDir: tempDir(), platforms: ['linux/amd64', 'linux/arm64'].map(parsePlatform), outputs: [{ type: 'oci', dest: join(tempDir(), 'layout') }] });
    expect(multi.digest).toBe(GOLDEN.multiPlatform);
  });

  it('alpine + RUN (native busybox commands)', async () => {
    const alpine = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`;
    const r = await buildFrom(`FROM ${alpine}\nRUN mkdir -p /app && echo hi > /app/x && chmod 750 /app/x && addgroup -S app && adduser -S -D -G app app\n`, {}, { platform: parsePlatform('linux/amd64') });
    expect(r.artifacts.digest).toBe(GOLDEN.alpineRun);
  });
});

const GOLDEN = {
  scratchCopy: 'sha256:39c43817d3f386ae83bbd1a3bb98bd2318e47d8ee5864de6b56ffa2aeeaa09dd',
  multiPlatform: 'sha256:ca517d6b0dd443830128c40f15420c3ee5048deb80534c3f9aedd73525c7ee40',
  alpineRun: 'sha256:9eb06a9f50f95009a82309bf25fb6c6c247a8f7566ea3e168fa469b9042d2c98',
};
