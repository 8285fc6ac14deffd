import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layoutOf, rawLayer } from '../helpers/layers.js';
import { writeTree } from '../helpers/tmp.js';
import { requireTools, rootfsDiff, run, runOcimake, walk } from './tools.js';

// Issue 12, with buildah bud as the oracle: a merged-/usr base (symlinked /bin, /lib, /sbin)
// and a base whose layers delete and re-create a directory, each built with COPY and
// COPY --from by ocimake and by buildah, must give identical rootfs; GNU tar must extract
// every layer ocimake wrote.

describe('ocimake and buildah agree on the filesystem of tricky bases', () => {
  // buildah reads oci: paths as image names: lowercase only.
  const work = join(tmpdir(), `ocimake-fs-vs-buildah-${randomBytes(6).toString('hex')}`);
  const cases: Record<string, { dockerfile: (bases: Record<string, string>) => string }> = {
    'merged-usr': {
      dockerfile: (b) => `FROM ${b.usr}\nCOPY libfoo.so /lib/x86_64-linux-gnu/libfoo.so\nCOPY app /bin/newdir/\nCOPY tool /sbin/tool\nWORKDIR /lib/app\nCOPY f .\nCOPY --from=${b.usr} /bin/sh /usr/local/bin/sh-copy\n`,
    },
    'delete-recreate': {
      dockerfile: (b) => `FROM ${b.redo}\nCOPY --from=${b.redo} /opt/ /copied-opt/\nCOPY f /opt/redo/f\n`,
    },
  };

  beforeAll(async () => {
    requireTools('buildah', 'umoci', 'skopeo', 'tar');
    mkdirSync(work, { recursive: true });
    const bases = {
      usr: await layoutOf(join(work, 'usr'), [await rawLayer([
        { name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' }, { name: 'usr/sbin/', type: 'directory' },
        { name: 'usr/lib/', type: 'directory' }, { name: 'usr/lib/x86_64-linux-gnu/', type: 'directory' },
        { name: 'usr/bin/sh', content: '#!sh\n', mode: 0o755 }, { name: 'usr/lib/x86_64-linux-gnu/libc.so.6', content: 'libc' },
        { name: 'bin', type: 'symlink', linkname: 'usr/bin' }, { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
        { name: 'sbin', type: 'symlink', linkname: 'usr/sbin' },
      ])]),
      redo: await layoutOf(join(work, 'redo'), [
        await rawLayer([{ name: 'opt/', type: 'directory' }, { name: 'opt/redo/', type: 'directory' }, { name: 'opt/redo/sub/', type: 'directory' }, { name: 'opt/redo/sub/secret', content: 's3cret' }, { name: 'opt/redo/old', content: 'old' }]),
        await rawLayer([{ name: 'opt/', type: 'directory' }, { name: 'opt/.wh.redo', content: '' }]),
        await rawLayer([{ name: 'opt/', type: 'directory' }, { name: 'opt/redo/', type: 'directory' }, { name: 'opt/redo/new', content: 'new' }]),
      ]),
    };
    for (const [name, c] of Object.entries(cases)) {
      const ctx = writeTree(join(work, `ctx-${name}`), { Dockerfile: c.dockerfile(bases), 'libfoo.so': 'foo', app: { content: '#!/bin/sh\n', mode: 0o755 }, tool: 't', f: 'f' });
      const r = runOcimake(['build', ctx, '-o', `type=oci,dest=${join(work, `ours-${name}`)}`, '-t', 'x/cmp:1', '--progress=plain', '--cache-dir', join(work, 'cache')]);
      expect(r.code, r.stderr).toBe(0);
      const b = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
      run('buildah', [...b, 'bud', '--isolation', 'chroot', '-q', '-t', `cmp-${name}:1`, ctx]);
      run('buildah', [...b, 'push', `cmp-${name}:1`, `oci:${join(work, `theirs-${name}`)}:1`]);
      run('umoci', ['unpack', '--image', `${join(work, `ours-${name}`)}:1`, join(work, `ours-${name}-bundle`)]);
      run('umoci', ['unpack', '--image', `${join(work, `theirs-${name}`)}:1`, join(work, `theirs-${name}-bundle`)]);
    }
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('gives the same rootfs on a merged-/usr base: /bin, /lib and /sbin stay symlinks, the files land in /usr', () => {
    const ours = walk(join(work, 'ours-merged-usr-bundle', 'rootfs'));
    expect(rootfsDiff(ours, walk(join(work, 'theirs-merged-usr-bundle', 'rootfs')))).toEqual([]);
    expect(ours.get('lib')).toMatchObject({ type: 'symlink', link: 'usr/lib' });
    expect(ours.get('usr/lib/x86_64-linux-gnu/libfoo.so')?.type).toBe('file');
    expect(ours.get('usr/lib/x86_64-linux-gnu/libc.so.6')?.type).toBe('file');
  });

  it('gives the same rootfs on a base that deletes and re-creates a directory: nothing deleted comes back', () => {
    const ours = walk(join(work, 'ours-delete-recreate-bundle', 'rootfs'));
    expect(rootfsDiff(ours, walk(join(work, 'theirs-delete-recreate-bundle', 'rootfs')))).toEqual([]);
    expect([...ours.keys()].filter((p) => p.includes('secret') || p.endsWith('/old'))).toEqual([]);
  });

  it('writes layers GNU tar extracts', () => {
    for (const name of Object.keys(cases)) {
      const layout = join(work, `ours-${name}`);
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      const manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
      for (const l of manifest.layers) {
        const dest = join(work, `tar-${name}-${l.digest.slice(7, 19)}`);
        mkdirSync(dest);
        run('tar', ['-xzf', join(layout, 'blobs', 'sha256', l.digest.slice(7)), '-C', dest]);
        expect(readdirSync(dest).length).toBeGreaterThan(0);
      }
    }
  });
});
