import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcimakeError } from '../../src/errors.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { parseReference } from '../../src/oci/reference.js';
import { LIMITS } from '../../src/remote/bounded.js';
import { pullImage, Remote } from '../../src/remote/registry-image.js';
import type { TransportOptions } from '../../src/remote/transport.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { createHash } from 'node:crypto';
import { hostileImage, startHostileRegistry, type Hostile, type HostileRegistry } from '../helpers/hostile-registry.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 13, findings 2 and 3: each bad answer ends in a clear error, with the memory the
// client held and the requests it made bounded (read from the client's own counters and
// the hostile server's request log).

const layerDigest = (kind: Hostile) => `sha256:${createHash('sha256').update(hostileImage(kind).layer).digest('hex')}`;

describe('when a registry answers with hostile content', () => {
  let reg: HostileRegistry;
  beforeAll(async () => { reg = await startHostileRegistry(); });
  afterAll(async () => reg?.close());

  async function pull(kind: Hostile, transport: TransportOptions = {}): Promise<{ err: OcimakeError; maxBuffered: number; requests: number; store: BlobStore }> {
    const remote = new Remote({ retry: { baseMs: 1, maxBackoffMs: 5 }, ...transport });
    const store = new BlobStore(tempDir());
    let err: unknown;
    try {
      const img = await pullImage(remote, parseReference(`${reg.host}/h/${kind}:1`), parsePlatform('linux/amd64'), store);
      const layer = img.image.layers[0]!;
      await layer.source.open(layer.descriptor.digest);
    } catch (e) {
      err = e;
    }
    expect(err, `${kind} must fail`).toBeInstanceOf(OcimakeError);
    const c = remote.client(reg.host).counters;
    return { err: err as OcimakeError, maxBuffered: c.maxBuffered, requests: reg.requests.get(kind) ?? 0, store };
  }

  it('gives up a layer that drips (a byte every 100 ms, never idle for a whole timeout) once it is slower than the floor over a window, and does not retry it', async () => {
    const r = await pull('dripping-layer', { timeoutSeconds: 0.5 });
    expect(r.err.code).toBe('NETWORK');
    expect(r.err.message).toMatch(/sent \d+ bytes in 0.5 s, slower than the 1024 bytes\/s floor/);
    expect(r.err.hint).toMatch(/--network-min-rate/);
    expect(r.requests).toBe(3); // manifest, config, one try of the layer
    expect(await r.store.has(layerDigest('dripping-layer'))).toBe(false);
  });

  it('reads only the first KiBs of an endless error body', async () => {
    const r = await pull('endless-error');
    expect(r.err.message).toMatch(/404/);
    expect(r.maxBuffered).toBeLessThanOrEqual(LIMITS.errorBody);
    expect(r.requests).toBe(1);
  });

  it('refuses an endless token answer past 64 KiB', async () => {
    const r = await pull('endless-token');
    expect(r.err.message).toMatch(/token answer .* larger than 64 KiB/);
    expect(r.maxBuffered).toBeLessThanOrEqual(LIMITS.token);
  });

  it('refuses a token that is not a string', async () => {
    const r = await pull('numeric-token');
    expect(r.err.code).toBe('UNAUTHORIZED');
    expect(r.err.message).toMatch(/did not answer with a token/);
  });

  it('gives up a blob that is always cut off and never resumed, within one retry budget', async () => {
    const r = await pull('cut-ignores-range');
    expect(r.err.code).toBe('NETWORK');
    expect(r.err.message).toMatch(/layer 1 of .*gave up after 6 attempts/);
    // manifest + config + at most 6 attempts at the layer
    expect(r.requests).toBeLessThanOrEqual(8);
    expect(await r.store.has(layerDigest('cut-ignores-range'))).toBe(false);
  });

  it('refuses a config whose descriptor says 300 MB, before asking for it', async () => {
    const r = await pull('huge-config');
    expect(r.err.code).toBe('LIMIT_EXCEEDED');
    expect(r.err.message).toMatch(/config .* is 300 MiB: past the limit configSize \(4 MiB\)/);
    expect(r.err.hint).toMatch(/OCIMAKE_MAX_CONFIG_SIZE/);
    expect(r.requests).toBe(1);
  });

  it('stops reading a config at the size its descriptor gave', async () => {
    const r = await pull('lying-config-size');
    expect(r.err.code).toBe('DIGEST_INVALID');
    expect(r.err.message).toMatch(/more than \d+ bytes/);
  });

  it('gives up at once on a Retry-After longer than it waits, and says so', async () => {
    const r = await pull('retry-after-forever');
    expect(r.err.message).toMatch(/429 TOOMANYREQUESTS/);
    expect(r.err.hint).toMatch(/asked to retry after 100000 s/);
    expect(r.requests).toBe(1);
  });

  it('refuses a layer whose content does not match the config\'s diff_ids, and keeps none of it', async () => {
    const r = await pull('wrong-diff-id');
    expect(r.err.code).toBe('DIGEST_INVALID');
    expect(r.err.message).toMatch(/rootfs\.diff_ids says sha256:/);
    expect(await r.store.has(layerDigest('wrong-diff-id'))).toBe(false);
  });

  it('refuses a manifest served as text/html', async () => {
    const r = await pull('html-manifest');
    expect(r.err.code).toBe('MANIFEST_INVALID');
    expect(r.err.message).toMatch(/served as text\/html/);
  });

  // Issue 11's corpus: answers that try to exhaust memory or loop.
  it('refuses an endless manifest at the manifestSize limit, naming its variable', async () => {
    const r = await pull('endless-manifest');
    expect(r.err.code).toBe('LIMIT_EXCEEDED');
    expect(r.err.message).toMatch(/the manifest of .* is larger than 4 MiB: past the limit manifestSize \(4 MiB\)/);
    expect(r.err.hint).toMatch(/OCIMAKE_MAX_MANIFEST_SIZE=N/);
    expect(r.maxBuffered).toBeLessThanOrEqual(LIMITS.manifest);
  });

  it('refuses an index whose manifest, asked for by digest, is the index again', async () => {
    const r = await pull('self-index');
    expect(r.err.code).toBe('DIGEST_INVALID');
    expect(r.requests).toBeLessThanOrEqual(3);
  });

  it('refuses an index inside an index, after two requests', async () => {
    const r = await pull('nested-index');
    expect(r.err.message).toMatch(/the index of .* names another index \(sha256:[0-9a-f]{64}\) for linux\/amd64, not an image manifest/);
    expect(r.requests).toBe(2);
  });

  it('stops reading a layer at the size its descriptor gave, when the registry sends more', async () => {
    const r = await pull('layer-size-lies');
    expect(r.err.message).toMatch(/size|digest/i);
    expect(await r.store.has(layerDigest('layer-size-lies'))).toBe(false);
  });

  it('stops reading an endless layer at its descriptor\'s size', async () => {
    const r = await pull('endless-layer');
    expect(r.err.message).toMatch(/size|digest|more/i);
    expect(await r.store.has(layerDigest('endless-layer'))).toBe(false);
  });

  it('reads a small file after a layer\'s 1,000-fold gzip bomb, downloading the layer once and streaming it', async () => {
    const remote = new Remote({ retry: { baseMs: 1, maxBackoffMs: 5 } });
    const store = new BlobStore(tempDir());
    const img = await pullImage(remote, parseReference(`${reg.host}/h/gzip-bomb:1`), parsePlatform('linux/amd64'), store);
    const layer = img.image.layers[0]!;
    expect((100 << 20) / layer.descriptor.size).toBeGreaterThan(900);
    const { MergedFs } = await import('../../src/image/merged-fs.js');
    const { copyOut } = await import('../../src/image/copy-out.js');
    const heapBefore = process.memoryUsage().heapUsed;
    const [small] = await copyOut(new MergedFs(img.image, 'bomb'), ['/small'], tempDir(), 'bomb');
    const e = small!.entries[0]!.entry;
    expect(e.type === 'file' && e.size).toBe(3);
    // The 100 MB of zeros streamed through: the heap did not take them.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 << 20);
    expect(img.downloads()).toBe(1);
  }, 60_000);
});
