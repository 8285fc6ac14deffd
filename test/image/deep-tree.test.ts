import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captured } from '../helpers/capture.js';
import { layoutOf, rawLayer } from '../helpers/layers.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 11: an image whose one file sits 2,000 directories deep. `-o type=local` of
// `COPY --from=<it> / /x/` ran for more than 400 s (every path component of every entry was
// resolved from the root again: cubic in the depth); it now finishes in seconds. The 120 s
// limit only guards against the old hang; nothing here asserts a time.

describe('a 2,000-level path', () => {
  it('is copied out of an image and written as a root filesystem, file intact', async () => {
    const work = tempDir();
    // 2,000 levels where the temp dir's path leaves room under PATH_MAX (4,096), which
    // ocimake's path-based writes cannot pass; a long TMPDIR (CI's) takes a few levels off.
    const depth = Math.min(2000, Math.floor((4000 - join(work, 'rootfs.00000.000000000000.tmp', 'x').length - 20) / 2));
    expect(depth).toBeGreaterThan(1800);
    const name = `${'d/'.repeat(depth)}deep.txt`;
    const layout = await layoutOf(join(work, 'img'), [await rawLayer([{ name, content: 'at the bottom\n' }])]);
    const ctx = writeTree(join(work, 'ctx'), { Dockerfile: `FROM scratch\nCOPY --from=${layout} / /x/\n` });
    const out = join(work, 'rootfs');
    const r = await captured(() => main(['build', ctx, '-q', '--cache-dir', join(work, 'cache'), '-o', out]));
    expect(r.stderr).toBe('');
    expect(r.value).toBe(0);
    // Read through a relative path from deep inside: the absolute one is longer than PATH_MAX.
    const cwd = process.cwd();
    let dir = join(out, 'x');
    for (let i = 0; i < depth; i += 500) {
      const step = 'd/'.repeat(Math.min(500, depth - i));
      process.chdir(join(dir, step));
      dir = '.';
    }
    try {
      expect(readFileSync('deep.txt', 'utf8')).toBe('at the bottom\n');
    } finally {
      process.chdir(cwd);
      // Node's recursive rmSync overflows its stack at this depth: remove the tree 100 levels at a time, deepest first.
      for (let i = depth; i > 0; i -= 100) {
        try { rmSync(join(out, 'x', 'd/'.repeat(Math.max(0, i - 100))), { recursive: true, force: true }); } catch { /* deeper first */ }
      }
    }
  }, 120_000);
});
