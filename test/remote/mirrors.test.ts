import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { buildAndExport } from '../../src/builder/export.js';
import { loadMirrors } from '../../src/remote/mirrors.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 28: registry mirrors, read from what users already configure (registries.conf,
// buildkitd.toml) and from --registry-mirror; tried before the registry, which is the fallback.

const noFiles = (dir: string) => ({ HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), CONTAINERS_REGISTRIES_CONF: join(dir, 'none.conf') });

describe('registry mirrors', () => {
  let mirror: RunningRegistry;
  let origin: RunningRegistry;
  let work: string;
  beforeAll(async () => {
    work = tempDir();
    mirror = await startRegistry();
    origin = await startRegistry();
    const ctx = writeTree(join(work, 'base'), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'from the mirror' });
    // What the mirror holds for Docker Hub's library/alpine, once at its root and once under a path.
    await buildAndExport({ context: ctx, tags: [`${mirror.host}/library/alpine:3.20`, `${mirror.host}/hub/library/alpine:3.20`], push: true, cacheDir: join(work, 'cache') });
    await buildAndExport({ context: ctx, tags: [`${origin.host}/lib/tool:1`], push: true, cacheDir: join(work, 'cache') });
  });
  afterAll(async () => { await mirror?.close(); await origin?.close(); });

  it('reads registries.conf and buildkitd.toml, after --registry-mirror', () => {
    const dir = tempDir();
    const conf = join(dir, 'registries.conf');
    writeFileSync(conf, 'unqualified-search-registries = ["docker.io"]\n[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "mirror.corp:5000/dockerhub"\ninsecure = true\n[[registry.mirror]]\nlocation = "digest.corp"\npull-from-mirror = "digest-only"\n');
    mkdirSync(join(dir, 'config', 'buildkit'), { recursive: true });
    writeFileSync(join(dir, 'config', 'buildkit', 'buildkitd.toml'), '[registry."docker.io"]\n  mirrors = ["bk.corp"]\n[registry."bk.corp"]\n  http = true\n[registry."ghcr.io"]\n  mirrors = ["ghcr-mirror.corp/ghcr"]\n');
    const m = loadMirrors(['docker.io=flag.corp:5001'], { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), CONTAINERS_REGISTRIES_CONF: conf });
    expect(m.get('docker.io')!.map((x) => `${x.host}|${x.prefix}|${x.insecure}`)).toEqual(['flag.corp:5001||false', 'mirror.corp:5000|dockerhub|true', 'bk.corp||true']);
    expect(m.get('ghcr.io')!.map((x) => `${x.host}|${x.prefix}`)).toEqual(['ghcr-mirror.corp|ghcr']);
    expect(() => loadMirrors(['docker.io'], noFiles(dir))).toThrow(/not REGISTRY=MIRROR/);
  });

  it('pulls FROM alpine:3.20 from the mirror (Docker Hub is never asked), under a path too, and provenance names the mirror', async () => {
    for (const [spec, where] of [[`docker.io=${mirror.host}`, mirror.host], [`docker.io=${mirror.host}/hub`, `${mirror.host}/hub`]] as const) {
      const ctx = writeTree(join(tempDir(), 'app'), { Dockerfile: 'FROM alpine:3.20\nCOPY b /b\n', b: 'b' });
      const r = await buildAndExport({ context: ctx, cacheDir: join(tempDir(), 'cache'), mirrors: loadMirrors([spec], noFiles(tempDir())) });
      expect(r.image.layers).toHaveLength(2);
      expect(r.inputs.materials).toContainEqual(expect.objectContaining({ uri: `pkg:docker/docker.io/library/alpine:3.20?repository_url=${encodeURIComponent(where)}` }));
      expect(r.pins.images[0]!.ref).toBe('docker.io/library/alpine:3.20');
    }
  });

  it('passes over a mirror that is down and pulls from the registry, saying so', async () => {
    const notices: string[] = [];
    const ctx = writeTree(join(tempDir(), 'fallback'), { Dockerfile: `FROM ${origin.host}/lib/tool:1\nCOPY b /b\n`, b: 'b' });
    const r = await buildAndExport({ context: ctx, cacheDir: join(tempDir(), 'cache'), mirrors: loadMirrors([`${origin.host}=127.0.0.1:1`], noFiles(tempDir())), retries: 0, onNotice: (m) => notices.push(m) });
    expect(r.image.layers).toHaveLength(2);
    expect(notices.join('\n')).toContain(`the mirror 127.0.0.1:1 (--registry-mirror) did not give ${origin.host}/lib/tool:1`);
    expect(r.inputs.materials.some((m) => m.uri.includes('repository_url'))).toBe(false);
  });
});
