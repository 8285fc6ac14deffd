import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, runOcimakeAsync, useDistribution } from './tools.js';

// Issue 8 (W7), against the real distribution registry: --cache-to type=registry stores the
// layer cache as an OCI artifact it accepts, and a fresh runner's build takes every layer
// from it (CACHED, nothing compressed) and ends with the same digest.

describe('a registry build cache in the distribution registry', () => {
  const env = useDistribution('ocimake-cache-', 'skopeo');

  it('is written by one runner and used by another with an empty cache dir', async () => {
    const { work, reg } = env;
    const ctx = join(work, 'ctx');
    mkdirSync(join(ctx, 'lib'), { recursive: true });
    for (let i = 0; i < 200; i++) writeFileSync(join(ctx, 'lib', `m${i}.js`), `module.exports = ${i};\n`.repeat(50));
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY lib /app/lib\nCOPY Dockerfile /app/\n');
    const cache = `type=registry,ref=${reg.host}/ci/app:buildcache`;
    const a = await runOcimakeAsync(['build', ctx, '--progress=plain', '-t', `${reg.host}/ci/app:1`, '--push', '--cache-to', cache, '--cache-dir', join(work, 'runner-a')]);
    expect(a.code, a.stderr).toBe(0);
    const manifest = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/ci/app:buildcache`])) as { artifactType: string; layers: unknown[] };
    expect(manifest.artifactType).toBe('application/vnd.ocimake.cache.v1+json');
    expect(manifest.layers).toHaveLength(2);
    const b = await runOcimakeAsync(['build', ctx, '--progress=plain', '-t', `${reg.host}/ci/app:2`, '--push', '--cache-from', cache, '--cache-dir', join(work, 'runner-b')]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr.match(/^#\d+ CACHED/gm)).toHaveLength(2);
    expect(b.stderr).not.toMatch(/uploaded/);
    const digestOf = (out: string) => /built (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    expect(digestOf(b.stderr)).toBe(digestOf(a.stderr));
  });
});
