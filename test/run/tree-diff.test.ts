import { chmodSync, linkSync, mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { noBackend } from '../../src/run/exec/isolation.js';
import { snapshot, treeChanges, type Owners } from '../../src/run/exec/tree-diff.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 26, item 3: what an executed RUN changed in the tree on disk, as one layer. The
// sandbox itself is tested with the real unshare in test/interop/executor.test.ts.

const asIs: Owners = { intended: () => undefined, uid: (id) => id, gid: (id) => id };
const view = (entries: readonly { type: string; path: string; mode: number; uid: number; gid: number; linkname?: string }[]) =>
  Object.fromEntries(entries.map((e) => [e.path, `${e.type} ${e.mode.toString(8)}${e.linkname ? ` -> ${e.linkname}` : ''}`]));

describe('the diff of an executed RUN', () => {
  it('keeps new and changed paths, whiteouts the topmost of what is gone, marks a remade directory opaque, and skips what did not change', () => {
    const root = writeTree(tempDir(), {
      'etc/motd': 'hi', 'etc/keep': 'same', 'usr/share/doc/a/README': 'r', 'usr/share/doc/b': 'b', 'var/lib/x/old': 'o', 'opt/file': 'f', 'proc/1/status': 'not ours',
    });
    const before = snapshot(root, new Set(['proc']));
    rmSync(join(root, 'etc/motd'));
    rmSync(join(root, 'usr/share/doc'), { recursive: true });
    rmSync(join(root, 'var/lib/x'), { recursive: true });
    mkdirSync(join(root, 'var/lib/x'));
    writeFileSync(join(root, 'var/lib/x/new'), 'n');
    rmSync(join(root, 'opt/file'));
    mkdirSync(join(root, 'opt/file'));
    writeFileSync(join(root, 'app'), 'bin');
    chmodSync(join(root, 'app'), 0o755);
    linkSync(join(root, 'app'), join(root, 'app2'));
    symlinkSync('app', join(root, 'link'));
    writeFileSync(join(root, 'proc/1/status'), 'changed, never kept');
    const after = snapshot(root, new Set(['proc']));
    expect(view(treeChanges(root, before, after, asIs))).toEqual({
      app: 'file 755', app2: 'hardlink 755 -> app', link: 'symlink 777 -> app',
      etc: 'directory 755', 'etc/.wh.motd': 'file 0',
      opt: 'directory 755', 'opt/file': 'directory 755', 'opt/file/.wh..wh..opq': 'file 0',
      usr: 'directory 755', 'usr/share': 'directory 755', 'usr/share/.wh.doc': 'file 0',
      var: 'directory 755', 'var/lib': 'directory 755', 'var/lib/x': 'directory 755', 'var/lib/x/.wh..wh..opq': 'file 0', 'var/lib/x/new': 'file 644',
    });
  });

  it('sees an edit that kept size and mtime (ctime moves), and a mode change', () => {
    const root = writeTree(tempDir(), { a: 'one', b: 'two' });
    const before = snapshot(root, new Set());
    const t = new Date(2020, 0, 1);
    utimesSync(join(root, 'a'), t, t);
    const mid = snapshot(root, new Set());
    writeFileSync(join(root, 'a'), 'ONE');
    utimesSync(join(root, 'a'), t, t);
    chmodSync(join(root, 'b'), 0o600);
    expect(Object.keys(view(treeChanges(root, before, mid, asIs)))).toEqual(['a']);
    expect(view(treeChanges(root, mid, snapshot(root, new Set()), asIs))).toEqual({ a: 'file 644', b: 'file 600' });
  });

  it('keeps the image\'s owners where the RUN did not change them, and maps the caller to root (rootless)', () => {
    const root = writeTree(tempDir(), { 'home/node/.npmrc': 'x' });
    const before = snapshot(root, new Set());
    writeFileSync(join(root, 'home/node/.npmrc'), 'changed');
    writeFileSync(join(root, 'home/node/new'), 'n');
    renameSync(join(root, 'home/node/new'), join(root, 'home/node/made'));
    const me = process.getuid!();
    const owners: Owners = { intended: (p) => (p.startsWith('home/node') ? { uid: 1000, gid: 1000 } : undefined), uid: (id) => (id === me ? 0 : id), gid: (id) => (id === process.getgid!() ? 0 : id) };
    const out = treeChanges(root, before, snapshot(root, new Set()), owners);
    expect(out.find((e) => e.path === 'home/node/.npmrc')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(out.find((e) => e.path === 'home/node/made')).toMatchObject({ uid: 0, gid: 0 });
    expect(out.find((e) => e.path === 'home/node')).toMatchObject({ uid: 1000 });
  });
});

describe('the refusal where nothing may execute', () => {
  it('names the program, every backend tried and why, and the ways out', () => {
    const err = noBackend('go', 'auto', { tried: [{ backend: 'chroot', why: 'it needs root' }, { backend: 'rootless', why: 'unprivileged user namespaces are turned off' }] });
    expect(err.message).toBe('RUN would execute "go", and no sandbox works on this host (chroot: it needs root; rootless: unprivileged user namespaces are turned off)');
    expect(err.hint).toMatch(/COPY it in, or give the stage's output from the host with --build-context STAGE=DIR/);
  });
});
