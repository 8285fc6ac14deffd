import { readySource } from '../../src/layer/entry.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OcimakeError } from '../../src/errors.js';
import { copyOut } from '../../src/image/copy-out.js';
import { MergedFs } from '../../src/image/merged-fs.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { layoutOf, memoryImage, rawLayer } from '../helpers/layers.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 12: one filesystem model for a stage. Each case names the reference behaviour
// (BuildKit's copy and its overlay-diff layers; buildah bud agrees in the interop suite).

/** A merged-/usr base as Debian 12+, Ubuntu and Fedora ship it: /bin, /lib, /sbin are symlinks into /usr. */
async function mergedUsrBase(dir: string): Promise<string> {
  return layoutOf(dir, [await rawLayer([
    { name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' }, { name: 'usr/sbin/', type: 'directory' },
    { name: 'usr/lib/', type: 'directory' }, { name: 'usr/lib/x86_64-linux-gnu/', type: 'directory' },
    { name: 'usr/bin/sh', content: '#!sh', mode: 0o755 }, { name: 'usr/lib/x86_64-linux-gnu/libc.so.6', content: 'libc' },
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' }, { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
    { name: 'sbin', type: 'symlink', linkname: 'usr/sbin' },
  ])]);
}

/** A base whose layers create /opt/redo/sub/secret, then delete /opt/redo, then create /opt/redo/new. */
async function redoBase(dir: string): Promise<string> {
  return layoutOf(dir, [
    await rawLayer([{ name: 'opt/', type: 'directory' }, { name: 'opt/redo/', type: 'directory' }, { name: 'opt/redo/sub/', type: 'directory' }, { name: 'opt/redo/sub/secret', content: 's3cret' }, { name: 'opt/redo/old', content: 'old' }]),
    await rawLayer([{ name: 'opt/', type: 'directory' }, { name: 'opt/.wh.redo', content: '' }]),
    await rawLayer([{ name: 'opt/', type: 'directory' }, { name: 'opt/redo/', type: 'directory' }, { name: 'opt/redo/new', content: 'new' }]),
  ]);
}

describe('the filesystem of a stage', () => {
  describe('on a merged-/usr base', () => {
    it('COPY to a path under /lib lands in /usr/lib and keeps the /lib symlink (and libc)', async () => {
      const base = await mergedUsrBase(join(tempDir(), 'usr'));
      const r = await buildFrom(`FROM ${base}\nCOPY libfoo.so /lib/x86_64-linux-gnu/libfoo.so\nCOPY app /bin/newdir/\nCOPY tool /sbin/tool\n`, { 'libfoo.so': 'foo', app: 'app', tool: 'tool' });
      const mine = flatten(r.layers.slice(1));
      expect(mine.get('usr/lib/x86_64-linux-gnu/libfoo.so')?.content).toBe('foo');
      expect(mine.get('usr/bin/newdir/app')?.content).toBe('app');
      expect(mine.get('usr/sbin/tool')?.content).toBe('tool');
      for (const link of ['lib', 'bin', 'sbin', 'lib/x86_64-linux-gnu', 'bin/newdir']) expect(mine.has(link), link).toBe(false);
      const all = flatten(r.layers);
      expect(all.get('lib')).toMatchObject({ type: 'symlink', linkname: 'usr/lib' });
      expect(all.get('usr/lib/x86_64-linux-gnu/libc.so.6')?.content).toBe('libc');
      expect(all.get('usr/bin/sh')?.content).toBe('#!sh');
    });

    it('WORKDIR through a symlinked directory creates nothing over the symlink', async () => {
      const base = await mergedUsrBase(join(tempDir(), 'usr'));
      const r = await buildFrom(`FROM ${base}\nWORKDIR /lib/app\nCOPY f .\n`, { f: 'x' });
      expect(r.image.config.config?.WorkingDir).toBe('/lib/app');
      const mine = flatten(r.layers.slice(1));
      expect(mine.get('usr/lib/app/f')?.content).toBe('x');
      expect(mine.has('lib')).toBe(false);
    });
  });

  describe('on a base that deletes a directory and creates it again', () => {
    it('COPY --from copies only what the top layers hold, never the deleted children', async () => {
      const base = await redoBase(join(tempDir(), 'redo'));
      const r = await buildFrom(`FROM scratch\nCOPY --from=${base} /opt/ /copied-opt/\n`);
      const paths = [...flatten(r.layers).keys()].filter((p) => p.startsWith('copied-opt')).sort();
      expect(paths).toEqual(['copied-opt', 'copied-opt/redo', 'copied-opt/redo/new']);
    });

    it('extract and the merged view agree', async () => {
      const { image } = memoryImage([
        await rawLayer([{ name: 'opt/redo/sub/secret', content: 's' }]),
        await rawLayer([{ name: 'opt/.wh.redo', content: '' }]),
        await rawLayer([{ name: 'opt/redo/new', content: 'n' }]),
      ]);
      const mfs = new MergedFs(image);
      expect(await mfs.lookup('/opt/redo/sub/secret')).toBeUndefined();
      expect((await mfs.descendants('opt')).map((e) => e.entry.path)).toEqual(['opt/redo', 'opt/redo/new']);
    });
  });

  describe('with layers that do not list parent directories (valid tars do this)', () => {
    it('sees the implicit parents as directories', async () => {
      const { image } = memoryImage([await rawLayer([{ name: 'a/b/c', content: 'deep' }])]);
      const mfs = new MergedFs(image);
      expect((await mfs.lookup('/a'))?.entry.entry.type).toBe('directory');
      const [copied] = await copyOut(mfs, ['/a'], tempDir(), 'img');
      expect(copied?.entries.map((e) => e.rel)).toEqual(['b', 'b/c']);
    });

    it('takes a lower layer\'s real metadata for a directory an upper layer only implies', async () => {
      const { image } = memoryImage([
        await rawLayer([{ name: 'srv/', type: 'directory', mode: 0o700, uid: 7 }]),
        await rawLayer([{ name: 'srv/x', content: 'x' }]),
      ]);
      const hit = await new MergedFs(image).lookup('/srv');
      expect(hit?.entry.entry).toMatchObject({ type: 'directory', mode: 0o700, uid: 7 });
    });
  });

  describe('with hardlinks', () => {
    it('keeps a link\'s content when the other name is replaced in a later layer (an inode group per layer)', async () => {
      const { image } = memoryImage([
        await rawLayer([{ name: 'x', content: 'old' }, { name: 'y', type: 'link', linkname: 'x' }]),
        await rawLayer([{ name: 'x', content: 'new' }]),
      ]);
      const [copied] = await copyOut(new MergedFs(image), ['/'], tempDir(), 'img');
      const byRel = new Map(copied!.entries.map((e) => [e.rel, e.entry]));
      expect(byRel.get('y')?.type).toBe('file');
      const { readFileSync } = await import('node:fs');
      const y = byRel.get('y')!;
      const x = byRel.get('x')!;
      const text = async (e: typeof x) => { if (e.type !== 'file') return ''; const s = await readySource(e.source); return s.kind === 'path' ? readFileSync(s.path, 'utf8') : s.data.toString('utf8'); };
      expect(await text(y)).toBe('old');
      expect(await text(x)).toBe('new');
    });

    it('keeps that content for hardlinks a stage wrote itself, when COPY --from reads the stage', async () => {
      const r = await buildFrom('FROM scratch AS s\nCOPY d /d\nCOPY newa /d/a\nFROM scratch\nCOPY --from=s /d /out\n', { 'd/a': 'same', 'd/b': { hardlinkTo: 'd/a' }, newa: 'new' });
      const out = flatten(r.layers);
      expect(out.get('out/a')?.content).toBe('new');
      expect(out.get('out/b')?.content).toBe('same');
    });

    it('writes every hardlink after the file it links to, whatever their names', async () => {
      const r = await buildFrom('FROM scratch\nCOPY d /d\n', { 'd/z-target': 'same', 'd/a-link': { hardlinkTo: 'd/z-target' } });
      const names = r.layers[0]!.map((e) => ({ name: e.name.replace(/\/$/, ''), type: e.type, linkname: e.linkname }));
      const link = names.findIndex((e) => e.type === 'link');
      const file = names.findIndex((e) => e.name === names[link]!.linkname);
      expect(file).toBeGreaterThanOrEqual(0);
      expect(file).toBeLessThan(link);
    });
  });
});

describe('Docker semantics of COPY, WORKDIR and FROM', () => {
  it('a wildcard that matches nothing is not an error (BuildKit allows empty wildcards)', async () => {
    const r = await buildFrom('FROM scratch\nCOPY *.nothing /x/\nCOPY a /a\n', { a: 'a' });
    expect(flatten(r.layers).get('a')?.content).toBe('a');
  });

  it('--chown=name takes the user\'s primary group from /etc/passwd', async () => {
    const base = await layoutOf(join(tempDir(), 'pw'), [await rawLayer([
      { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:2000:app:/home/app:/bin/sh\n' },
      { name: 'etc/group', content: 'root:x:0:\napp:x:1000:\nstaff:x:2000:\n' },
    ])]);
    const r = await buildFrom(`FROM ${base}\nCOPY --chown=app f /f\n`, { f: 'x' });
    expect(flatten(r.layers).get('f')).toMatchObject({ uid: 1000, gid: 2000 });
  });

  it('WORKDIR after USER creates the directory owned by that user', async () => {
    const base = await layoutOf(join(tempDir(), 'pw'), [await rawLayer([
      { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n' },
      { name: 'etc/group', content: 'root:x:0:\napp:x:1001:\n' },
    ])]);
    const r = await buildFrom(`FROM ${base}\nUSER app\nWORKDIR /srv/app\n`);
    const all = flatten(r.layers);
    expect(all.get('srv/app')).toMatchObject({ type: 'directory', uid: 1000, gid: 1001 });
  });

  it('MAINTAINER sets author', async () => {
    const r = await buildFrom('FROM scratch\nMAINTAINER Jane <jane@example.com>\n');
    expect(r.image.config.author).toBe('Jane <jane@example.com>');
  });

  it('a base whose Env has no PATH gets the default PATH appended', async () => {
    const { writeOciLayout } = await import('../../src/layout/oci-layout.js');
    const { image } = memoryImage([await rawLayer([{ name: 'f', content: 'x' }])]);
    image.config.config = { Env: ['A=1'] };
    const dir = join(tempDir(), 'nopath');
    await writeOciLayout(dir, image, { refName: '1' });
    const r = await buildFrom(`FROM oci:${dir}:1\n`);
    expect(r.image.config.config?.Env).toEqual(['A=1', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  it('FROM <stage> inherits that stage\'s ARGs and not its ONBUILD', async () => {
    const r = await buildFrom('FROM scratch AS base\nARG V=from-base\nONBUILD RUN echo hi\nFROM base\nLABEL v=$V\n');
    expect(r.image.config.config?.Labels).toEqual({ v: 'from-base' });
    expect(r.image.config.config?.OnBuild ?? null).toBeNull();
  });

  it('COPY --from=$VAR is refused, as BuildKit refuses it', async () => {
    const err = await buildFrom('FROM scratch AS a\nFROM scratch\nARG S=a\nCOPY --from=$S /x /x\n').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OcimakeError);
    expect((err as OcimakeError).message).toMatch(/Dockerfile:4: variable expansion is not supported for --from/);
  });
});

describe('COPY flags of Dockerfile 1.7 (each works or is refused; none is accepted and ignored)', () => {
  const tree = { 'app/main.js': 'm', 'app/server.key': 'k', 'app/sub/deep.key': 'd', 'app/sub/ok.txt': 'o', 'a.txt': 'a', 'b.txt': 'b' };

  it('--exclude leaves out what its patterns match, with .dockerignore rules', async () => {
    const r = await buildFrom('FROM scratch\nCOPY --exclude=*.key app/ /app/\nCOPY --exclude=b.txt *.txt /t/\n', tree);
    const paths = [...flatten(r.layers).keys()].sort();
    expect(paths).toContain('app/main.js');
    expect(paths).not.toContain('app/server.key');
    expect(paths).toContain('app/sub/deep.key'); // *.key is top-level only; **/*.key reaches down
    expect(paths).toContain('t/a.txt');
    expect(paths).not.toContain('t/b.txt');
    const deep = await buildFrom('FROM scratch\nCOPY --exclude=**/*.key --exclude=sub app/ /app/\n', tree);
    expect([...flatten(deep.layers).keys()].filter((p) => p.startsWith('app/')).sort()).toEqual(['app/main.js']);
  });

  it('--exclude works on COPY --from too', async () => {
    const r = await buildFrom('FROM scratch AS src\nCOPY app/ /app/\nFROM scratch\nCOPY --from=src --exclude=*.key /app/ /copy/\n', tree);
    const paths = [...flatten(r.layers).keys()];
    expect(paths).toContain('copy/main.js');
    expect(paths).not.toContain('copy/server.key');
  });

  it('--parents keeps the source path under the destination', async () => {
    const r = await buildFrom('FROM scratch\nCOPY --parents app/sub/ok.txt a.txt /dst/\n', tree);
    const paths = [...flatten(r.layers).keys()];
    expect(paths).toContain('dst/app/sub/ok.txt');
    expect(paths).toContain('dst/a.txt');
  });

  it('--link does not follow the stage\'s symlinks: its directories are real ones (BuildKit\'s documented difference)', async () => {
    const base = await mergedUsrBase(join(tempDir(), 'usr'));
    const r = await buildFrom(`FROM ${base}\nCOPY --link f /lib/x/f\n`, { f: 'x' });
    const mine = flatten(r.layers.slice(1));
    expect(mine.get('lib')?.type).toBe('directory');
    expect(mine.get('lib/x/f')?.content).toBe('x');
  });

  it('refuses ADD --checksum, --keep-git-dir and a --parents pivot, naming the line', async () => {
    await expect(buildFrom('FROM scratch\nADD --checksum=sha256:abc a.txt /a\n', tree)).rejects.toThrow(/Dockerfile:2: ADD --checksum applies to http\(s\) URL sources only/);
    await expect(buildFrom('FROM scratch\nADD --keep-git-dir=true a.txt /a\n', tree)).rejects.toThrow(/Dockerfile:2: ADD --keep-git-dir/);
    await expect(buildFrom('FROM scratch\nCOPY --parents app/./sub/ok.txt /d/\n', tree)).rejects.toThrow(/pivot is not supported/);
  });
});
