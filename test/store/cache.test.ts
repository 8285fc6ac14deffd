import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { build } from '../../src/builder/build.js';
import { Cache, CACHE_LAYOUT } from '../../src/store/cache.js';
import { pruneCache } from '../../src/store/cache-prune.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 25 §3: one object owns the cache directory: its parts, its records, its layout, and who
// is using it. A cache from an older or newer ocimake is read for what this one knows.

const ctx = () => writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\nCOPY b /b\n', a: 'a', b: 'b' });

describe('the cache directory', () => {
  it('names its layout and is tagged for backup tools', () => {
    const dir = tempDir();
    const c = Cache.open(dir);
    expect(JSON.parse(readFileSync(join(dir, 'cache.json'), 'utf8'))).toEqual({ layout: CACHE_LAYOUT });
    expect(readFileSync(join(dir, 'CACHEDIR.TAG'), 'utf8')).toMatch(/^Signature: 8a477f597d28d172789f06886806bc55\n/);
    expect(c.recordPath('steps', 'abcdef')).toBe(join(dir, 'steps', 'ab', 'abcdef.json'));
  });

  it('reads an old cache whose records are of other formats or cut short as misses, and builds', async () => {
    const dir = tempDir();
    const c = ctx();
    const first = await build({ context: c, cacheDir: dir });
    // Every record becomes one an older ocimake might have left: another format, or half written.
    let n = 0;
    for (const part of ['steps', 'layers']) {
      for (const sub of readdirSync(join(dir, part))) {
        for (const f of readdirSync(join(dir, part, sub))) {
          const path = join(dir, part, sub, f);
          writeFileSync(path, n++ % 2 === 0 ? JSON.stringify({ format: 'ocimake-step-v1', layerKey: 'x' }) : readFileSync(path, 'utf8').slice(0, 20));
        }
      }
    }
    expect(n).toBeGreaterThan(2);
    const again = await build({ context: c, cacheDir: dir });
    expect(again.artifacts.digest).toBe(first.artifacts.digest);
  });

  it('notes once that a newer ocimake wrote the cache, and uses it for what it knows', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'cache.json'), JSON.stringify({ layout: CACHE_LAYOUT + 1 }));
    const notes: string[] = [];
    Cache.open(dir, (m) => notes.push(m));
    Cache.open(dir, (m) => notes.push(m));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain(`written by a newer ocimake (layout ${CACHE_LAYOUT + 1}; this one knows ${CACHE_LAYOUT})`);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try { await build({ context: ctx(), cacheDir: dir }); } finally { err.mockRestore(); }
    expect(JSON.parse(readFileSync(join(dir, 'cache.json'), 'utf8'))).toEqual({ layout: CACHE_LAYOUT + 1 });
  });

  it('prune keeps what a running build has used since it started, and ignores the marker of a build that died', async () => {
    const dir = tempDir();
    const cache = Cache.at(dir);
    await build({ context: ctx(), cacheDir: dir });
    const old = new Date(Date.now() - 3600_000);
    const files: string[] = [];
    const walk = (d: string) => { for (const e of readdirSync(d, { withFileTypes: true })) { const p = join(d, e.name); if (e.isDirectory()) walk(p); else files.push(p); } };
    walk(join(dir, 'blobs'));
    for (const f of files) utimesSync(f, old, old);
    // A build that died: a marker of this pid namespace whose pid runs no more.
    mkdirSync(join(dir, 'users'), { recursive: true });
    const ns = /\d+/.exec(readlinkSync('/proc/self/ns/pid'))?.[0];
    writeFileSync(join(dir, 'users', `999999999.1.${ns}-1`), '');
    const release = cache.use();
    try {
      // A blob this build "uses" now: touched after it started.
      const recent = files[0]!;
      utimesSync(recent, new Date(), new Date());
      const r = await pruneCache(cache);
      expect(existsSync(recent)).toBe(true);
      expect(r.inUse).toBeGreaterThan(0);
      expect(files.slice(1).every((f) => !existsSync(f))).toBe(true);
    } finally {
      release();
    }
    expect(readdirSync(join(dir, 'users'))).toEqual([]);
    const after = await pruneCache(cache);
    expect(after.inUse).toBe(0);
  });
});
