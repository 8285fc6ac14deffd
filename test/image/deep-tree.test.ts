import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captured } from '../helpers/capture.js';
import { layoutOf, rawLayer } from '../helpers/layers.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { work, workSnapshot } from '../../src/util/work.js';

// Issue 11: an image whose one file sits 2,000 directories deep. `-o type=local` of
// `COPY --from=<it> / /x/` ran for more than 400 s (every path component of every entry was
// resolved from the root again: cubic in the depth); it now finishes in seconds. The 120 s
// limit only guards against the old hang; nothing here asserts a time. The writer names each
// entry through a handle on its parent, so the kernel walks one component per call, not 2,000
// (work.writePathChars counts what it was handed), and the output may lie deeper than PATH_MAX.

describe('a 2,000-level path', () => {
  it('is copied out of an image and written as a root filesystem, file intact', async () => {
    const dir0 = tempDir();
    const depth = 2000;
    const name = `${'d/'.repeat(depth)}deep.txt`;
    const layout = await layoutOf(join(dir0, 'img'), [await rawLayer([{ name, content: 'at the bottom\n' }])]);
    const ctx = writeTree(join(dir0, 'ctx'), { Dockerfile: `FROM scratch\nCOPY --from=${layout} / /x/\n` });
    const out = join(dir0, 'rootfs');
    const before = workSnapshot();
    const r = await captured(() => main(['build', ctx, '-q', '--cache-dir', join(dir0, 'cache'), '-o', out]));
    expect(r.stderr).toBe('');
    expect(r.value).toBe(0);
    // About 2,000 entries, each named in a few dozen characters (the full paths would be 4 million).
    if (process.platform === 'linux') expect(work.writePathChars - before.writePathChars).toBeLessThan(2_100 * 200);
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
