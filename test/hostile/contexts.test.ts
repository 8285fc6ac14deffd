import { allowHeapGovernance, heapRegime } from '../../src/util/heap.js';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { workSince, workSnapshot } from '../../src/util/work.js';
import { readTar } from '../helpers/tar.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 11: the hostile corpus, build contexts. (An unreadable file is in the interop suite,
// test/interop/non-root-output.test.ts: it needs a non-root user, and tests run as root.)

const cacheDir = tempDir('ocimake-ctx-cache-');
const fails = (p: Promise<unknown>) => p.then(() => { throw new Error('accepted'); }, (e: Error) => e);

async function buildCtx(ctx: string, dockerfile: string) {
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
  const r = await build({ context: ctx, cacheDir });
  const top = r.image.layers.at(-1)!;
  return { ...r, top: await readTar(await top.source.open(top.descriptor.digest)) };
}

describe('hostile build contexts (issue 11 corpus)', () => {
  it('symlink loops inside a copied directory are copied as symlinks, never followed', async () => {
    const ctx = tempDir();
    mkdirSync(join(ctx, 'd'));
    symlinkSync('b', join(ctx, 'd/a'));
    symlinkSync('a', join(ctx, 'd/b'));
    symlinkSync('.', join(ctx, 'd/self'));
    symlinkSync('/etc', join(ctx, 'd/host'));
    const r = await buildCtx(ctx, 'FROM scratch\nCOPY d /d/\n');
    expect(r.top.map((e) => [e.name, e.type, e.linkname])).toEqual([
      ['d/', 'directory', undefined], ['d/a', 'symlink', 'b'], ['d/b', 'symlink', 'a'], ['d/host', 'symlink', '/etc'], ['d/self', 'symlink', '.'],
    ]);
  });

  it('a COPY source that is a symlink loop is refused in words', async () => {
    const ctx = tempDir();
    symlinkSync('loop2', join(ctx, 'loop1'));
    symlinkSync('loop1', join(ctx, 'loop2'));
    const err = await fails(buildCtx(ctx, 'FROM scratch\nCOPY loop1 /\n'));
    expect(err.message).toMatch(/^Dockerfile:2: COPY: source "loop1" is a symlink loop/);
  });

  it('a COPY source reached through a symlink out of the context is refused', async () => {
    const ctx = tempDir();
    symlinkSync('/etc', join(ctx, 'etc'));
    const err = await fails(buildCtx(ctx, 'FROM scratch\nCOPY etc/hostname /\n'));
    expect(err.message).toMatch(/points outside the build context/);
  });

  it('a COPY source of ../ is refused', async () => {
    const err = await fails(buildCtx(tempDir(), 'FROM scratch\nCOPY ../../etc/passwd /\n'));
    expect(err.message).toMatch(/is outside the build context/);
  });

  it('a fifo and a socket in the context are left out with a warning; the build neither blocks nor fails', async () => {
    const ctx = tempDir();
    writeFileSync(join(ctx, 'f'), 'x');
    execFileSync('mkfifo', [join(ctx, 'pipe')]);
    const server = createServer();
    await new Promise<void>((res) => server.listen(join(ctx, 'sock'), res));
    try {
      const r = await buildCtx(ctx, 'FROM scratch\nCOPY . /\n');
      expect(r.top.map((e) => e.name)).toEqual(['Dockerfile', 'f']);
      expect(r.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^pipe in the build context is a fifo: it is not copied/), expect.stringMatching(/^sock in the build context is a socket/)]));
    } finally { server.close(); }
  });

  it('50,000 files: each looked at once, all in the layer', async () => {
    const ctx = tempDir();
    for (let d = 0; d < 50; d++) {
      mkdirSync(join(ctx, `d${d}`));
      for (let f = 0; f < 1000; f++) writeFileSync(join(ctx, `d${d}`, `f${f}`), '');
    }
    const before = workSnapshot();
    allowHeapGovernance(); // as the CLI does (a library caller's V8 is left alone)
    const r = await buildCtx(ctx, 'FROM scratch\nCOPY . /app/\n');
    expect(workSince(before).contextEntries).toBeLessThanOrEqual(50_000 + 50 + 1);
    expect(r.top.filter((e) => e.type === 'file').length).toBe(50_001);
    // Past 5,000 entries the build bounds its heap (util/heap.ts).
    expect(heapRegime().largeTree).toBe(true);
  }, 120_000);

  it('a 1,000-level directory in the context is copied whole', async () => {
    const ctx = tempDir();
    const deep = join(...Array.from({ length: 1000 }, () => 'd'));
    mkdirSync(join(ctx, deep), { recursive: true });
    writeFileSync(join(ctx, deep, 'bottom'), 'b');
    const before = workSnapshot();
    const r = await buildCtx(ctx, 'FROM scratch\nCOPY d /d/\n');
    expect(workSince(before).contextEntries).toBeLessThanOrEqual(1001);
    expect(r.top.at(-1)!.name).toBe(`${deep}/bottom`);
  }, 60_000);

  it('a .dockerignore of 2,000 chained ** patterns still finishes, each file looked at once', async () => {
    const ctx = tempDir();
    writeFileSync(join(ctx, '.dockerignore'), `${'**/'.repeat(2000)}x\n${'a*'.repeat(500)}b\n`);
    for (let i = 0; i < 200; i++) writeFileSync(join(ctx, `${'a'.repeat(60)}${i}`), '');
    const before = workSnapshot();
    const r = await buildCtx(ctx, 'FROM scratch\nCOPY . /\n');
    expect(workSince(before).contextEntries).toBeLessThanOrEqual(203);
    expect(r.top.length).toBe(202);
  }, 60_000);
});
