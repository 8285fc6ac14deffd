import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { buildAndExport } from '../../src/builder/export.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 25: one `build --push --cache-to` is one set of registry clients. Each made its own
// before (the build, the push, the cache export), so a registry with token auth was asked for
// the same token once per client; now each scope is asked for once.

describe('one command, one set of registry clients', () => {
  let reg: RunningRegistry;
  const lines: string[] = [];
  let work: string;
  beforeAll(async () => {
    work = tempDir();
    reg = await startRegistry({ auth: { users: { ci: 'secret' }, realm: 'token' }, log: (l) => lines.push(l) });
    vi.stubEnv('OCIMAKE_REGISTRY_AUTH', JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('ci:secret').toString('base64') } } }));
    const base = writeTree(join(work, 'base'), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
    await buildAndExport({ context: base, tags: [`${reg.host}/lib/base:1`], push: true, cacheDir: join(work, 'cache') });
  });
  afterAll(async () => { vi.unstubAllEnvs(); await reg?.close(); });

  it('asks for each token once across the pull, the push and the cache export', async () => {
    const ctx = writeTree(join(work, 'app'), { Dockerfile: `FROM ${reg.host}/lib/base:1\nCOPY b /b\n`, b: 'b' });
    lines.length = 0;
    await buildAndExport({ context: ctx, tags: [`${reg.host}/app/web:1`], push: true, cacheDir: join(work, 'cache'), cacheTo: [`type=registry,ref=${reg.host}/app/web:cache`] });
    const tokens = lines.filter((l) => /\/token\b/.test(l));
    // Each token request names its scopes: the base's pull, the push, the push that mounts from the base.
    const asked = tokens.map((l) => l.split(' ')[1]);
    expect(new Set(asked).size, tokens.join('\n')).toBe(asked.length);
    expect(tokens.length).toBeGreaterThan(0);
  });
});
