import { buildChecked, validatePushed } from '../helpers/validate.js';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import type { BuildAndExportOptions } from '../../src/builder/export.js';
import { OcimakeError } from '../../src/errors.js';
import { FAULTS, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 9: builds and pushes through a network that fails the way real ones do. Every
// request passes a loopback proxy that injects 503s, 429s, resets before and during bodies,
// truncated and slow bodies and cut uploads on a seeded schedule. 20 builds of
// FROM <base> + COPY --from=<etcd-like image> + a stamp, each with an empty cache, must all
// push the same digest, and the registry must hold every blob the manifest names.

const RUNS = 20;

describe('when the network between ocimake and the registry is faulty', () => {
  const work = tempDir();
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let ctx: string;
  let expected: string;
  const opts = (cache: string, tag: string): BuildAndExportOptions => ({
    context: ctx, cacheDir: cache, tags: [`${proxy.host}/out/app:${tag}`], push: true,
    // Fast back-off for the test (the schedule never fails one request more than twice in a row);
    // a small threshold so that layers go through the resumable PATCH path and the config does not.
    retry: { attempts: 10, baseMs: 5, maxBackoffMs: 50 },
    chunkedUploadMin: 64 << 10,
  });

  async function direct(path: string, method = 'GET'): Promise<Response> {
    return fetch(`${reg.url}${path}`, { method, headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  }

  beforeAll(async () => {
    reg = await startRegistry();
    // The base and the etcd-like image go straight to the registry.
    const base = writeTree(join(work, 'base'), { Dockerfile: 'FROM scratch\nCOPY bin/ /bin/\n', 'bin/busybox': randomBytes(300 << 10), 'bin/sh': 'sh' });
    const etcd = writeTree(join(work, 'etcd'), { Dockerfile: 'FROM scratch\nCOPY lib/ /lib/\nCOPY etcd /usr/local/bin/etcd\n', 'lib/libc.so': randomBytes(200 << 10), etcd: { content: randomBytes(2 << 20).toString('latin1'), mode: 0o755 } });
    await buildChecked({ context: base, cacheDir: join(work, 'c0'), tags: [`${reg.host}/library/busybox:1`], push: true });
    await buildChecked({ context: etcd, cacheDir: join(work, 'c0'), tags: [`${reg.host}/coreos/etcd:v3`], push: true });
    proxy = await startFaultProxy({ upstream: reg.host, seed: 20261124, rate: 0 });
    ctx = writeTree(join(work, 'ctx'), {
      Dockerfile: `FROM ${proxy.host}/library/busybox:1\nCOPY --from=${proxy.host}/coreos/etcd:v3 /usr/local/bin/etcd /usr/local/bin/\nCOPY stamp /stamp\n`,
      stamp: 'build 1',
    });
    // The digest a clean network gives.
    expected = (await buildChecked(opts(join(work, 'clean-cache'), 'clean'))).digest;
  });

  afterAll(async () => {
    await proxy?.close();
    await reg?.close();
  });

  it(`pulls and pushes ${RUNS} times through injected faults, every time with the right digest and every blob in place`, async () => {
    proxy.setRate(0.3);
    for (let i = 0; i < RUNS; i++) {
      const cache = join(work, `cache-${i}`);
      mkdirSync(cache);
      const r = await buildChecked(opts(cache, `run-${i}`));
      expect(r.digest, `run ${i}`).toBe(expected);
      const m = await direct(`/v2/out/app/manifests/run-${i}`);
      expect(m.status).toBe(200);
      const manifest = (await m.json()) as { config: { digest: string }; layers: { digest: string }[] };
      for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
        expect((await direct(`/v2/out/app/blobs/${d}`, 'HEAD')).status, d).toBe(200);
      }
      await validatePushed(`${reg.host}/out/app:run-${i}`, expected);
    }
    // Every kind of fault was met along the way.
    for (const f of FAULTS) expect(proxy.stats[f], f).toBeGreaterThan(0);
    // About 30 s on an idle 2-core machine (the retries' back-off): the bound is 6× that, so a loaded CI runner does not time it out.
  }, 180_000);

  it('asks again for a manifest, a config and a layer whose bodies were cut off, on the first try of each', async () => {
    const seen = new Set<string>();
    const cutOnce = (kind: 'reset-during' | 'truncate') => (method: string, path: string) => {
      if (method !== 'GET' || seen.has(path)) return undefined;
      seen.add(path);
      return kind;
    };
    for (const kind of ['reset-during', 'truncate'] as const) {
      seen.clear();
      proxy.setForce(cutOnce(kind));
      try {
        const r = await buildChecked(opts(join(work, `cache-cut-${kind}`), `cut-${kind}`));
        expect(r.digest).toBe(expected);
      } finally {
        proxy.setForce(undefined);
      }
      expect([...seen].filter((p) => p.includes('/manifests/')).length).toBeGreaterThanOrEqual(2);
      expect([...seen].filter((p) => p.includes('/blobs/')).length).toBeGreaterThanOrEqual(2);
    }
  });

  it('gives up a push that cannot get through with a clear error, and leaves no tag behind', async () => {
    proxy.setRate(0);
    proxy.setForce((method, path) => (/\/blobs\/uploads\//.test(path) && method !== 'POST' ? '503' : undefined));
    writeFileSync(join(ctx, 'stamp'), 'build 2: a new layer that must be uploaded');
    let err: unknown;
    try {
      await buildChecked({ ...opts(join(work, 'cache-give-up'), 'given-up'), retry: { attempts: 3, baseMs: 1, maxBackoffMs: 5 } });
    } catch (e) {
      err = e;
    } finally {
      proxy.setForce(undefined);
    }
    expect(err).toBeInstanceOf(OcimakeError);
    expect((err as OcimakeError).message).toMatch(/pushing .*out\/app:given-up: uploading sha256:[0-9a-f]{64}.*503/);
    expect((err as OcimakeError).message).toMatch(/gave up after 3 attempts/);
    expect((await direct('/v2/out/app/manifests/given-up')).status).toBe(404);
  });
});
