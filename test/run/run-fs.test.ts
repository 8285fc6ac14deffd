import { describe, expect, it } from 'vitest';
import { MergedFs } from '../../src/image/merged-fs.js';
import { existsSync, readdirSync } from 'node:fs';
import { changesOf } from '../../src/run/fs/changes.js';
import { Inode, RunFs, SPILL_AT } from '../../src/run/fs/run-fs.js';
import { memoryImage, rawLayer } from '../helpers/layers.js';
import { tempDir } from '../helpers/tmp.js';
import { allowHeapGovernance, heapRegime, LARGE_TREE } from '../../src/util/heap.js';

// The RUN filesystem's path walk (issue 27 §3): what it answers, and that a tree a RUN makes
// costs no lookup in the layers below per path.

async function base() {
  const l0 = await rawLayer([
    { name: 'etc/', type: 'directory' }, { name: 'etc/motd', content: 'hi' }, { name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' },
    { name: 'usr/bin/tool', content: 'x', mode: 0o755 }, { name: 'bin', type: 'symlink', linkname: 'usr/bin' }, { name: 'abs', type: 'symlink', linkname: '/etc' },
  ]);
  const { image } = memoryImage([l0]);
  const lower = new MergedFs(image);
  let lookups = 0;
  const real = lower.lookup.bind(lower);
  lower.lookup = (...a: Parameters<MergedFs['lookup']>) => { lookups++; return real(...a); };
  const scratch = tempDir();
  return { rfs: new RunFs(lower, scratch), lookups: () => lookups, scratch };
}

const meta = { mode: 0o755, uid: 0, gid: 0 };

describe('RunFs.resolve', () => {
  it('follows symlinks (relative and absolute), .. and ., and keeps missing components as written', async () => {
    const { rfs } = await base();
    expect((await rfs.resolve('/bin/tool', true)).path).toBe('usr/bin/tool');
    expect((await rfs.resolve('/abs/motd', true)).path).toBe('etc/motd');
    expect((await rfs.resolve('/usr/bin/../../etc/./motd', true)).node?.type).toBe('file');
    expect((await rfs.resolve('/../../etc', true)).path).toBe('etc');
    expect((await rfs.resolve('/bin', false)).node?.type).toBe('symlink');
    expect((await rfs.resolve('/etc/nope/deeper', true))).toEqual({ path: 'etc/nope/deeper', node: undefined });
    await expect(rfs.resolve('/etc/motd/x', true)).rejects.toThrow(/Not a directory/);
  });

  it('answers paths under a directory the RUN made without looking below, and still sees the base', async () => {
    const { rfs, lookups } = await base();
    // As mkdir does: resolve, then make.
    const mkdir = async (p: string) => { const r = await rfs.resolve(p, true); expect(r.node).toBeUndefined(); await rfs.makeDir(r.path, meta); };
    await mkdir('/data');
    for (let d = 0; d < 10; d++) {
      await mkdir(`/data/d${d}`);
      for (let f = 0; f < 100; f++) {
        const { path, node } = await rfs.resolve(`/data/d${d}/f${f}`, true);
        expect(node).toBeUndefined();
        rfs.set(path, { type: 'file', ino: new Inode({ mode: 0o644, uid: 0, gid: 0 }, Buffer.alloc(0)) });
      }
    }
    expect((await rfs.resolve('/data/d9/f99', true)).node?.type).toBe('file');
    // data itself, and at most a few more: not one per file.
    expect(lookups()).toBeLessThan(5);
    expect((await rfs.resolve('/etc/motd', true)).node?.type).toBe('file');
    expect(await rfs.readdir('data/d3')).toHaveLength(100);
  });

  it('switches to the large-tree memory regime once a RUN has made LARGE_TREE paths, as COPY does', async () => {
    const { rfs } = await base();
    allowHeapGovernance(); // as the CLI does
    expect(heapRegime().largeTree).toBe(false);
    await rfs.makeDir('t', meta);
    for (let i = 0; i < LARGE_TREE - 2; i++) rfs.set(`t/f${i}`, { type: 'file', ino: new Inode({ mode: 0o644, uid: 0, gid: 0 }, Buffer.alloc(0)) });
    expect(heapRegime().largeTree).toBe(false);
    rfs.set('t/last', { type: 'file', ino: new Inode({ mode: 0o644, uid: 0, gid: 0 }, Buffer.alloc(0)) });
    expect(heapRegime().largeTree).toBe(true);
  });

  it('keeps a file past SPILL_AT on disk in the scratch directory, reads it back, and gives the layer a path to read', async () => {
    const { rfs, scratch } = await base();
    const big = Buffer.alloc(SPILL_AT + 1, 7);
    const ino = new Inode({ mode: 0o644, uid: 0, gid: 0 }, big);
    rfs.set('big', { type: 'file', ino });
    rfs.set('small', { type: 'file', ino: new Inode({ mode: 0o644, uid: 0, gid: 0 }, Buffer.from('s')) });
    expect(ino.data).toBeNull();
    expect(ino.size).toBe(SPILL_AT + 1);
    expect(existsSync(ino.spill!.path) && ino.spill!.path.startsWith(scratch)).toBe(true);
    expect(readdirSync(scratch)).toHaveLength(1);
    expect((await rfs.bytes({ type: 'file', ino })).equals(big)).toBe(true);
    // A copy (cp) shares the bytes on disk.
    expect((await rfs.bytes({ type: 'file', ino: ino.copy({ mode: 0o600, uid: 0, gid: 0 }) })).equals(big)).toBe(true);
    const entries = await changesOf(rfs);
    expect(entries.find((e) => e.path === 'big')).toMatchObject({ type: 'file', size: SPILL_AT + 1, source: { kind: 'path', path: ino.spill!.path } });
    expect(entries.find((e) => e.path === 'small')).toMatchObject({ source: { kind: 'bytes' } });
  });
});
