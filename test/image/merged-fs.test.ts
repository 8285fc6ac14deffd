import { readySource } from '../../src/layer/entry.js';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyOut } from '../../src/image/copy-out.js';
import { extractPaths } from '../../src/source/extract.js';
import { MergedFs } from '../../src/image/merged-fs.js';
import { memoryImage, rawLayer } from '../helpers/layers.js';
import { tempDir } from '../helpers/tmp.js';
import { OcimakeError } from '../../src/errors.js';

async function threeLayers() {
  const l0 = await rawLayer([
    { name: 'etc/', type: 'directory' }, { name: 'etc/keep', content: 'keep' }, { name: 'etc/gone', content: 'gone' },
    { name: 'opt/', type: 'directory' }, { name: 'opt/old', content: 'old' },
    { name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' }, { name: 'usr/bin/tool', content: 'v1', mode: 0o755 },
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
  ]);
  const l1 = await rawLayer([
    { name: 'etc/.wh.gone' }, { name: 'opt/', type: 'directory' }, { name: 'opt/.wh..wh..opq' }, { name: 'opt/new', content: 'new' },
    { name: 'usr/bin/tool', content: 'v2', mode: 0o755 }, { name: 'usr/bin/link', type: 'link', linkname: 'usr/bin/tool' },
  ]);
  const l2 = await rawLayer([{ name: 'app/', type: 'directory' }, { name: 'app/server', content: 'top', mode: 0o750 }, { name: 'app/cfg', type: 'symlink', linkname: '../../../etc/keep' }]);
  return memoryImage([l0, l1, l2]);
}

describe('MergedFs', () => {
  it('reads only the top layer for a file that is there', async () => {
    const { image, opened } = await threeLayers();
    const mfs = new MergedFs(image);
    const hit = await mfs.lookup('/app/server');
    expect(hit?.entry.entry).toMatchObject({ type: 'file', mode: 0o750 });
    expect(mfs.layersOpened).toBe(1);
    expect(opened.size).toBe(1);
  });

  it('contentOf reads a layer once for the small files a RUN reads one after another, and the last entry of a path wins', async () => {
    const big = 'x'.repeat(300 * 1024);
    const l0 = await rawLayer([
      { name: 'etc/', type: 'directory' }, { name: 'etc/a', content: 'A' }, { name: 'etc/big', content: big }, { name: 'etc/b', content: 'B1' },
      { name: 'etc/b', content: 'B2' }, { name: 'etc/c', content: 'C' }, { name: 'etc/l', type: 'link', linkname: 'etc/c' },
    ]);
    const { image, opened } = memoryImage([l0]);
    const mfs = new MergedFs(image);
    const read = async (p: string) => (await mfs.contentOf((await mfs.lookup(p, false))!.entry)).toString();
    expect(await read('/etc/c')).toBe('C');
    expect([await read('/etc/a'), await read('/etc/b'), await read('/etc/l')]).toEqual(['A', 'B2', 'C']);
    // One pass for the entries (no entry index here), one for all four contents.
    expect([...opened.values()]).toEqual([2]);
    // A file past the size kept of what is read past costs a pass of its own, each time.
    expect(await read('/etc/big')).toBe(big);
    expect(await read('/etc/big')).toBe(big);
    expect([...opened.values()]).toEqual([4]);
  });

  it('applies whiteouts and opaque directories across layers', async () => {
    const { image } = await threeLayers();
    const mfs = new MergedFs(image);
    expect(await mfs.lookup('/etc/gone')).toBeUndefined();
    expect(await mfs.lookup('/etc/keep')).toBeDefined();
    expect((await mfs.descendants('opt')).map((e) => e.entry.path)).toEqual(['opt/new']);
    expect((await mfs.descendants('etc')).map((e) => e.entry.path)).toEqual(['etc/keep']);
  });

  it('resolves symlinks inside the image root, clamping .. at /', async () => {
    const { image } = await threeLayers();
    const mfs = new MergedFs(image);
    expect((await mfs.lookup('/bin/tool'))?.path).toBe('usr/bin/tool');
    expect((await mfs.lookup('/app/cfg'))?.path).toBe('etc/keep'); // ../../../etc/keep stops at the root
    expect((await mfs.lookup('/bin', false))?.entry.entry.type).toBe('symlink');
  });

  it('refuses symlink loops', async () => {
    const { image } = memoryImage([await rawLayer([{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }])]);
    await expect(new MergedFs(image).lookup('/a')).rejects.toThrow(/too many levels of symbolic links/);
  });

  it('copies out the upper version of a file, directories merged, and hardlinks', async () => {
    const { image } = await threeLayers();
    const scratch = tempDir();
    const [tool, bin] = await copyOut(new MergedFs(image), ['/bin/tool', '/usr/bin'], scratch, 'test image');
    expect(tool!.kind).toBe('file');
    const src = tool!.entries[0]!.entry;
    const ready = src.type === 'file' ? await readySource(src.source) : undefined;
    expect(ready && (ready.kind === 'path' ? readFileSync(ready.path, 'utf8') : ready.data.toString('utf8'))).toBe('v2');
    expect(bin!.entries.map((e) => [e.rel, e.entry.type])).toEqual([['link', 'hardlink'], ['tool', 'file']]);
  });
});

describe('extract and hostile layers', () => {
  async function extractAll(layers: Buffer[], paths = ['/']): Promise<{ dest: string; parent: string; err?: Error }> {
    const parent = tempDir();
    const dest = join(parent, 'out');
    const { image } = memoryImage(layers);
    const err = await extractPaths(new MergedFs(image, 'hostile'), paths, dest, join(parent, '.scratch'), 'hostile').then(() => undefined, (e: Error) => e);
    return { dest, parent, ...(err ? { err } : {}) };
  }
  const outsideFiles = (parent: string) => readdirSync(parent).filter((n) => n !== 'out' && n !== '.scratch');

  it('extracts files with modes and symlinks', async () => {
    const { image } = await threeLayers();
    const parent = tempDir();
    const r = await extractPaths(new MergedFs(image), ['/app', '/bin/tool'], join(parent, 'o'), join(parent, 's'), 'img');
    expect(r.files).toBe(2);
    expect(lstatSync(join(parent, 'o/app/server')).mode & 0o777).toBe(0o750);
    expect(readlinkSync(join(parent, 'o/app/cfg'))).toBe('../../../etc/keep');
    expect(readFileSync(join(parent, 'o/usr/bin/tool'), 'utf8')).toBe('v2');
  });

  it.each([
    ['a ../ escape', [{ name: '../evil', content: 'x' }], /climbs out of the image root/],
    ['a hardlink out of the root', [{ name: 'x', type: 'link' as const, linkname: '../../etc/passwd' }], /climbs out of the image root/],
    ['a symlink to / followed by a write through it', [{ name: 'link', type: 'symlink' as const, linkname: '/' }, { name: 'link/etc/x', content: 'pwned' }], /written through the symlink "link"/],
    ['a device node', [{ name: 'dev/', type: 'directory' as const }, { name: 'dev/null', type: 'character-device' as const }], /device or fifo/],
  ])('refuses %s and writes nothing outside the target', async (_name, entries, re) => {
    const { parent, err } = await extractAll([await rawLayer(entries)]);
    expect(err?.message).toMatch(re);
    expect(outsideFiles(parent)).toEqual([]);
    expect(existsSync('/etc/x')).toBe(false);
  });

  // Issue 13, finding 1: `a/X`, then `a` → a host directory, then `a-b` hardlinked to `a/X`
  // made link() resolve through the symlink and hard-link the host file into the output.
  it('never hard-links a host file through a symlink planted over a directory it wrote', async () => {
    const host = tempDir('ocimake-host-');
    const secret = join(host, 'X');
    writeFileSync(secret, 'host secret');
    const layer = await rawLayer([
      { name: 'a/X', content: 'image file' },
      { name: 'a', type: 'symlink', linkname: host },
      { name: 'a-b', type: 'link', linkname: 'a/X' },
    ]);
    const { dest, err } = await extractAll([layer]);
    expect(statSync(secret).nlink).toBe(1);
    expect(readFileSync(secret, 'utf8')).toBe('host secret');
    const linked = lstatSync(join(dest, 'a-b'), { throwIfNoEntry: false });
    if (linked) expect(linked.ino).not.toBe(statSync(secret).ino);
    // The merged view either refuses the layer or drops the dangling link; never the host file.
    if (err) expect(err.message).toMatch(/hardlink|refus|not a file this extraction wrote/);
  });

  it('never hard-links to anything but a file it wrote itself', async () => {
    const { dest } = await extractAll([await rawLayer([{ name: 'etc/', type: 'directory' }])]);
    const { TreeWriter } = await import('../../src/source/tree-writer.js');
    const w = await TreeWriter.open(dest);
    await expect(w.write('x', { type: 'hardlink', path: 'x', mode: 0o644, uid: 0, gid: 0, linkname: 'etc' })).rejects.toThrow(/not a file this extraction wrote/);
    symlinkSync('/etc', join(dest, 'sys-etc'));
    await expect(w.write('sys-etc/passwd2', { type: 'file', path: 'sys-etc/passwd2', mode: 0o644, uid: 0, gid: 0, size: 1, source: { kind: 'bytes', data: Buffer.from('x') } })).rejects.toThrow(/not a real directory/);
    expect(existsSync('/etc/passwd2')).toBe(false);
  });

  it('writes a file larger than SMALL_FILE (streamed, not read whole) intact, with its mode', async () => {
    const big = 'b'.repeat(200_000) + 'end';
    const { dest, err } = await extractAll([await rawLayer([{ name: 'big.bin', content: big, mode: 0o640 }])]);
    expect(err).toBeUndefined();
    expect(readFileSync(join(dest, 'big.bin'), 'utf8')).toBe(big);
    expect(lstatSync(join(dest, 'big.bin')).mode & 0o777).toBe(0o640);
  });

  it('writes read-only directories after their children', async () => {
    const { dest, err } = await extractAll([await rawLayer([{ name: 'ro/', type: 'directory', mode: 0o555 }, { name: 'ro/f', content: 'x', mode: 0o444 }])]);
    expect(err).toBeUndefined();
    expect(lstatSync(join(dest, 'ro')).mode & 0o777).toBe(0o555);
    expect(readFileSync(join(dest, 'ro/f'), 'utf8')).toBe('x');
  });

  it('names the layer and its digest when a layer is not a valid tar or gzip stream', async () => {
    const broken = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(64, 0x41)]);
    const { err } = await extractAll([broken]);
    expect(err).toBeInstanceOf(OcimakeError);
    expect((err as OcimakeError).code).toBe('LAYER_INVALID');
    expect(err?.message).toMatch(/^hostile layer 1 \([0-9a-f]{12}\): /);
  });

  it('confines absolute paths inside the target', async () => {
    const { dest, parent, err } = await extractAll([await rawLayer([{ name: '/abs/file', content: 'in' }])]);
    expect(err).toBeUndefined();
    expect(readFileSync(join(dest, 'abs/file'), 'utf8')).toBe('in');
    expect(outsideFiles(parent)).toEqual([]);
  });
});
