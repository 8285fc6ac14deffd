import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveCacheDir } from '../../src/store/cache-dir.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 14: a cache that cannot be written (HOME read-only on serverless hosts) falls back to
// the temp dir and says so once; an explicit cache dir that cannot be used is an error.

describe('the cache directory', () => {
  it('falls back to the temp dir when the default cannot be made, and says so once', () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, 'x');
    const warnings: string[] = [];
    const dir = resolveCacheDir(undefined, { XDG_CACHE_HOME: file }, (m) => warnings.push(m));
    expect(dir).toMatch(/ocimake-cache-\d+$/);
    resolveCacheDir(undefined, { XDG_CACHE_HOME: file }, (m) => warnings.push(m));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot use the cache at .*not-a-dir\/ocimake \(a parent is not a directory\); using .* for this run/);
  });

  it('refuses an explicit --cache-dir that is a file, naming it', () => {
    const file = join(tempDir(), 'cache-file');
    writeFileSync(file, 'x');
    expect(() => resolveCacheDir(file, {})).toThrow(/the cache directory .*cache-file cannot be used: it is not a directory/);
  });
});
