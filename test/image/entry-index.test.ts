import { readySource } from '../../src/layer/entry.js';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MergedFs } from '../../src/image/merged-fs.js';
import { copyOut } from '../../src/image/copy-out.js';
import { entryIndexStore } from '../../src/store/entry-index.js';
import { memoryImage, rawLayer } from '../helpers/layers.js';
import { tempDir } from '../helpers/tmp.js';

// A layer's entry index (<cache dir>/layer-index): the merged view of a layer it has listed
// once is built again without opening the blob, gives the same answers, and trusts an index
// no more than the layer itself.

// Made once: a layer's digest must not change between two images (tar headers carry the time).
let layers: Buffer[] | undefined;
async function image(dir: string) {
  layers ??= [await rawLayer([
    { name: 'etc/', type: 'directory' }, { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
    { name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' }, { name: 'usr/bin/tool', content: 'v1', mode: 0o755 },
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' }, { name: 'etc/gone', content: 'x' },
  ]), await rawLayer([{ name: 'etc/.wh.gone' }, { name: 'usr/bin/tool', content: 'v2', mode: 0o700 }, { name: 'usr/bin/link', type: 'link', linkname: 'usr/bin/tool' }])];
  return memoryImage(layers, { entryIndex: entryIndexStore(dir) });
}

const listing = async (mfs: MergedFs) => (await mfs.descendants('')).map((e) => `${e.entry.path} ${e.entry.type} ${e.entry.mode.toString(8)} ${e.layer}${e.entry.linkname ? ` -> ${e.entry.linkname}` : ''}`);

describe('layer entry index', () => {
  const saved = process.env.OCIMAKE_MAX_LAYER_ENTRIES;
  afterEach(() => { if (saved === undefined) delete process.env.OCIMAKE_MAX_LAYER_ENTRIES; else process.env.OCIMAKE_MAX_LAYER_ENTRIES = saved; });

  it('lists a layer again without opening its blob, with the same answers', async () => {
    const dir = tempDir();
    const first = await image(dir);
    const a = new MergedFs(first.image);
    const before = await listing(a);
    expect(a.layersOpened).toBe(2);
    expect(readdirSync(dir)).toHaveLength(2);
    const second = await image(dir);
    const b = new MergedFs(second.image);
    expect(await listing(b)).toEqual(before);
    expect((await b.lookup('/bin/tool'))?.path).toBe('usr/bin/tool');
    expect(await b.lookup('/etc/gone')).toBeUndefined();
    expect(b.layersOpened).toBe(0);
    expect(second.opened.size).toBe(0);
    // Contents still come from the blob, and only the layer that holds them is opened.
    const [copied] = await copyOut(b, ['/usr/bin/tool'], tempDir(), 'the image');
    const src = copied!.entries[0]!.entry;
    const ready = src.type === 'file' ? await readySource(src.source) : undefined;
    expect(ready?.kind === 'bytes' ? ready.data.toString() : undefined).toBe('v2');
    expect(second.opened.size).toBe(1);
  });

  it('is not written for a layer that is refused, and a broken index is a miss', async () => {
    const dir = tempDir();
    const hostile = memoryImage([await rawLayer([{ name: 'x', type: 'link', linkname: 'nowhere' }])], { entryIndex: entryIndexStore(dir) });
    await expect(new MergedFs(hostile.image).lookup('/x')).rejects.toThrow(/hardlink/);
    expect(readdirSync(dir)).toHaveLength(0);
    const ok = await image(dir);
    await listing(new MergedFs(ok.image));
    for (const f of readdirSync(dir)) writeFileSync(join(dir, f), readFileSync(join(dir, f), 'utf8').slice(0, 40));
    const again = await image(dir);
    const mfs = new MergedFs(again.image);
    expect(await listing(mfs)).toContain('usr/bin/tool file 700 1');
    expect(mfs.layersOpened).toBe(2);
  });

  it('passes indexed entries through the layer checks: unsafe paths and the limits as they are now', async () => {
    const dir = tempDir();
    const ok = await image(dir);
    await listing(new MergedFs(ok.image));
    // An index edited to climb out of the root is refused as the tar entry would be.
    for (const f of readdirSync(dir)) writeFileSync(join(dir, f), readFileSync(join(dir, f), 'utf8').replace('"usr/bin/tool"', '"../../tool"'));
    await expect(listing(new MergedFs((await image(dir)).image))).rejects.toThrow(/climbs out of the image root/);
    // A limit lowered after the index was written still applies.
    const dir2 = tempDir();
    await listing(new MergedFs((await image(dir2)).image));
    process.env.OCIMAKE_MAX_LAYER_ENTRIES = '3';
    await expect(listing(new MergedFs((await image(dir2)).image))).rejects.toThrow(/layerEntries/);
  });
});

describe('index rows', () => {
  it('are all shape-checked before the first entry is made, and let go of as they are made', async () => {
    const { decodeRows } = await import('../../src/store/entry-index.js');
    expect(decodeRows([['a', 'f', 420, 0, 0, 1], ['b', 'l', 511, 0, 0, 0]])).toBeUndefined(); // a symlink row without its target
    const rows: unknown[] = [['a', 'd', 493, 0, 0, 0], ['a/b', 'f', 420, 0, 0, 3], ['a/c', 'l', 511, 0, 0, 0, 'b']];
    const it = decodeRows(rows)![Symbol.iterator]();
    expect(it.next().value).toEqual({ path: 'a', type: 'directory', mode: 493, uid: 0, gid: 0, size: 0 });
    expect(rows[0]).toBeUndefined();
    expect([...{ [Symbol.iterator]: () => it }].map((e) => e.path)).toEqual(['a/b', 'a/c']);
    expect(rows.every((r) => r === undefined)).toBe(true);
  });
});
