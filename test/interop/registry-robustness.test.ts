import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOcimakeRegistry } from './tools.js';

// Issue 4: crash safety (kill -9 during large uploads) and a bounded load run of 32 clients.

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'ocimake-robust-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function pushImage(base: string, repo: string, tag: string, layer: Buffer): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] }, tag }));
  for (const b of [config, layer]) {
    const r = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha(b)}`, { method: 'POST', body: b });
    if (r.status !== 201) throw new Error(`blob push ${r.status}`);
  }
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }] });
  const r = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (r.status !== 201) throw new Error(`manifest push ${r.status}`);
  return sha(manifest);
}

/** Every stored blob hashes to its name, and every tag's manifest and blobs are there. */
async function checkIntegrity(root: string): Promise<{ blobs: number; tags: number }> {
  const dir = join(root, 'blobs', 'sha256');
  const names = readdirSync(dir);
  for (const hex of names) expect(sha(readFileSync(join(dir, hex)))).toBe(`sha256:${hex}`);
  const reg = await startOcimakeRegistry(['--root', root]);
  let tags = 0;
  try {
    const repos = ((await (await fetch(`${reg.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
    for (const repo of repos) {
      const list = ((await (await fetch(`${reg.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags;
      for (const tag of list) {
        const m = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`);
        expect(m.status).toBe(200);
        const j = (await m.json()) as { config: { digest: string }; layers: { digest: string }[] };
        for (const d of [j.config.digest, ...j.layers.map((l) => l.digest)]) expect((await fetch(`${reg.url}/v2/${repo}/blobs/${d}`, { method: 'HEAD' })).status).toBe(200);
        tags++;
      }
    }
  } finally {
    await reg.stop();
  }
  return { blobs: names.length, tags };
}

describe('registry crash safety', () => {
  it('never keeps a corrupt blob or a dangling tag after kill -9 in the middle of uploads', async () => {
    const root = join(work, 'crash');
    for (let round = 0; round < 5; round++) {
      const reg = await startOcimakeRegistry(['--root', root]);
      await pushImage(reg.url, 'crash/app', `r${round}`, randomBytes(4096));
      const big = randomBytes(48 << 20);
      const uploads = [
        fetch(`${reg.url}/v2/crash/big/blobs/uploads/?digest=${sha(big)}`, { method: 'POST', body: big }).catch(() => undefined),
        (async () => {
          const start = await fetch(`${reg.url}/v2/crash/chunked/blobs/uploads/`, { method: 'POST' });
          let loc = start.headers.get('location')!;
          for (let off = 0; off < big.length; off += 1 << 20) {
            const r = await fetch(new URL(loc, reg.url), { method: 'PATCH', body: big.subarray(off, off + (1 << 20)), headers: { 'content-range': `${off}-${off + (1 << 20) - 1}` } });
            loc = r.headers.get('location') ?? loc;
          }
          await fetch(new URL(`${loc}?digest=${sha(big)}`, reg.url), { method: 'PUT' });
        })().catch(() => undefined),
        pushImage(reg.url, 'crash/app', `late${round}`, randomBytes(2 << 20)).catch(() => undefined),
      ];
      await new Promise((r) => setTimeout(r, 30 + Math.floor(Math.random() * 400)));
      reg.child.kill('SIGKILL');
      await Promise.all(uploads);
      await new Promise((r) => (reg.child.exitCode !== null || reg.child.signalCode !== null ? r(undefined) : reg.child.once('exit', r)));
    }
    const { blobs, tags } = await checkIntegrity(root);
    expect(tags).toBeGreaterThanOrEqual(5);
    console.log(`crash safety: 5 kill -9 rounds; ${blobs} blobs verified, ${tags} tags resolve`);
  });
});

describe('registry under load', () => {
  it('serves 32 concurrent clients pushing and pulling overlapping images with 0 errors', async () => {
    const root = join(work, 'load');
    const reg = await startOcimakeRegistry(['--root', root]);
    const layers = Array.from({ length: 8 }, (_, i) => randomBytes(64 * 1024 + i));
    const deadline = Date.now() + 4000;
    let pushes = 0;
    let pulls = 0;
    let bytes = 0;
    const errors: string[] = [];
    const client = async (id: number) => {
      let n = 0;
      while (Date.now() < deadline) {
        const k = (id + n++) % layers.length;
        try {
          await pushImage(reg.url, `load/app${k % 4}`, `t${k}`, layers[k]!);
          pushes++;
          const m = await fetch(`${reg.url}/v2/load/app${k % 4}/manifests/t${k}`);
          const j = (await m.json()) as { layers: { digest: string }[] };
          const blob = Buffer.from(await (await fetch(`${reg.url}/v2/load/app${k % 4}/blobs/${j.layers[0]!.digest}`)).arrayBuffer());
          if (sha(blob) !== j.layers[0]!.digest) errors.push(`corrupt blob ${j.layers[0]!.digest}`);
          bytes += blob.length;
          pulls++;
        } catch (err) {
          errors.push(String(err));
        }
      }
    };
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 32 }, (_, i) => client(i)));
    const secs = (Date.now() - t0) / 1000;
    await reg.stop();
    expect(errors).toEqual([]);
    const { blobs } = await checkIntegrity(root);
    console.log(`load: 32 clients for ${secs.toFixed(1)} s: ${pushes} image pushes, ${pulls} pulls (${(bytes / 2 ** 20).toFixed(0)} MiB), 0 errors, ${blobs} blobs verified`);
    expect(pushes).toBeGreaterThan(0);
  });
});
