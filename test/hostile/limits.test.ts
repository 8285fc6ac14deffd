import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { limit, LIMIT_SPECS } from '../../src/util/limits.js';
import { captured } from '../helpers/capture.js';

// Issue 11: the limits a user can see (`ocimake limits`) and raise (OCIMAKE_MAX_*).

describe('limits', () => {
  afterEach(() => { for (const s of Object.values(LIMIT_SPECS)) delete process.env[s.env]; });

  it('ocimake limits lists every limit with its value and variable, and marks those set', async () => {
    process.env.OCIMAKE_MAX_PATH_DEPTH = '5000';
    const r = await captured(() => main(['limits']));
    expect(r.value).toBe(0);
    for (const [name, spec] of Object.entries(LIMIT_SPECS)) { expect(r.stdout).toContain(name); expect(r.stdout).toContain(spec.env); }
    expect(r.stdout).toMatch(/^pathDepth\s+5000\s+OCIMAKE_MAX_PATH_DEPTH \(set\)$/m);
    expect(r.stdout).toMatch(/^manifestSize\s+4 MiB\s+OCIMAKE_MAX_MANIFEST_SIZE$/m);
  });

  it('reads sizes with units and counts without', () => {
    process.env.OCIMAKE_MAX_MANIFEST_SIZE = '8MiB';
    expect(limit('manifestSize')).toBe(8 << 20);
    process.env.OCIMAKE_MAX_MANIFEST_SIZE = '65536';
    expect(limit('manifestSize')).toBe(65536);
    process.env.OCIMAKE_MAX_LAYER_ENTRIES = '3000000';
    expect(limit('layerEntries')).toBe(3_000_000);
  });

  it.each([['OCIMAKE_MAX_LAYER_ENTRIES', '10k'], ['OCIMAKE_MAX_MANIFEST_SIZE', '4 parsecs'], ['OCIMAKE_MAX_PATH_LENGTH', '0'], ['OCIMAKE_MAX_PATH_DEPTH', '-3']])('refuses %s=%s with the default in the hint', async (env, value) => {
    process.env[env] = value;
    const r = await captured(() => main(['limits']));
    expect(r.value).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`error: ${env}="${value}" is not a valid (size|count)\\nhint: .*the default is`));
  });
});
