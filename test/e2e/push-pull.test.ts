import { captured } from '../helpers/capture.js';
import { validatePushed } from '../helpers/validate.js';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, cpSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { main } from '../../src/cli/main.js';
import { ImageConfigSchema, ManifestSchema, IndexSchema } from '../../src/oci/schemas.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { parseReference } from '../../src/oci/reference.js';
import { RegistryClient } from '../../src/remote/transport.js';
import { fetchBlob, fetchManifest } from '../../src/remote/pull.js';
import { writeTree } from '../helpers/tmp.js';

// Build → push to the embedded registry over real HTTP → pull back, validate every
// document against the schemas and recompute every digest.

const DOCKERFILE = 'FROM scratch\nCOPY app-server /app-server\nCOPY static/ /srv/static/\nENV MODE=prod\nEXPOSE 8080\nENTRYPOINT ["/app-server"]\n';

function context(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ocimake-e2e-'));
  return writeTree(dir, { Dockerfile: DOCKERFILE, 'app-server': { content: '#!fake static binary\n', mode: 0o755 }, 'static/index.html': '<h1>hi</h1>', 'static/css/site.css': 'body{}' });
}

let last = { stdout: '', stderr: '' };
/** Runs the CLI in-process with its output captured (asserted where it matters, never printed). */
async function cli(args: string[]): Promise<number> {
  const r = await captured(() => main(args));
  last = r;
  return r.value;
}

describe('build, push and pull back on the embedded registry', () => {
  let reg: RunningRegistry;
  const work = mkdtempSync(join(tmpdir(), 'ocimake-e2e-work-'));

  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => reg?.close());

  it('pushes every blob and every tag, and what comes back validates and hashes right', async () => {
    const ctx = context();
    const meta = join(work, 'meta.json');
    const iid = join(work, 'iid');
    const code = await cli(['build', ctx, '-t', `${reg.host}/acme/app:1.0`, '-t', `${reg.host}/acme/app:latest`, '--push', '--progress=quiet', '--metadata-file', meta, '--iidfile', iid, '--cache-dir', join(work, 'cache')]);
    expect(code).toBe(0);
    const m = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>;
    const digest = m['containerimage.digest'] as string;
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(m['image.name']).toBe(`${reg.host}/acme/app:1.0,${reg.host}/acme/app:latest`);

    await validatePushed(`${reg.host}/acme/app:1.0`, digest);
    const client = new RegistryClient(reg.host);
    const store = new BlobStore(join(work, 'pulled'));
    for (const tag of ['1.0', 'latest']) {
      const ref = parseReference(`${reg.host}/acme/app:${tag}`);
      const got = await fetchManifest(client, ref);
      expect(got.digest).toBe(digest);
      expect(`sha256:${createHash('sha256').update(got.bytes).digest('hex')}`).toBe(digest);
      const manifest = ManifestSchema.parse(JSON.parse(got.bytes.toString('utf8')));
      expect(got.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      await fetchBlob(client, ref.repository, manifest.config, store);
      const configBytes = readFileSync(store.path(manifest.config.digest));
      expect(readFileSync(iid, 'utf8')).toBe(manifest.config.digest);
      const config = ImageConfigSchema.parse(JSON.parse(configBytes.toString('utf8')));
      expect(config.config?.Entrypoint).toEqual(['/app-server']);
      expect(config.rootfs.diff_ids).toHaveLength(manifest.layers.length);
      for (const [i, layer] of manifest.layers.entries()) {
        await fetchBlob(client, ref.repository, layer, store);
        const blob = readFileSync(store.path(layer.digest));
        expect(blob.length).toBe(layer.size);
        expect(`sha256:${createHash('sha256').update(blob).digest('hex')}`).toBe(layer.digest);
        expect(`sha256:${createHash('sha256').update(gunzipSync(blob)).digest('hex')}`).toBe(config.rootfs.diff_ids[i]);
      }
    }
  });

  it('skips blobs the registry already has (HEAD) on a second push', async () => {
    const ctx = context();
    const args = ['build', ctx, '-t', `${reg.host}/acme/again:1`, '--push', '--progress=quiet', '--cache-dir', join(work, 'cache')];
    expect(await cli(args)).toBe(0);
    const before = reg.stats.requests;
    const uploadsBefore = reg.stats.uploads;
    expect(await cli(args)).toBe(0);
    // The second push sends HEADs and the manifest PUT only: 2 layers + config HEAD, 1 PUT, plus /v2/ checks at most.
    expect(reg.stats.requests - before).toBeLessThanOrEqual(6);
    expect(reg.stats.uploads).toBe(uploadsBefore);
    expect(uploadsBefore).toBeGreaterThan(0); // the first push did upload
  });

  it('builds the same digest from two clones with the same SOURCE_DATE_EPOCH', async () => {
    const a = context();
    const b = join(mkdtempSync(join(tmpdir(), 'ocimake-clone-')), 'elsewhere');
    mkdirSync(b);
    cpSync(a, b, { recursive: true, preserveTimestamps: false });
    const digests: string[] = [];
    for (const ctx of [a, b]) {
      const meta = join(ctx, '..', `meta-${digests.length}.json`);
      const code = await cli(['build', ctx, '-o', `type=oci,dest=${join(ctx, '..', `oci-${digests.length}`)}`, '--progress=quiet', '--metadata-file', meta, '--cache-dir', join(work, `cache-${digests.length}`)]);
      expect(code).toBe(0);
      digests.push((JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>)['containerimage.digest']!);
    }
    expect(digests[0]).toBe(digests[1]);
  });

  it('writes an OCI layout whose index names the tag', async () => {
    const ctx = context();
    const out = join(work, 'layout');
    expect(await cli(['build', ctx, '-t', 'example.com/app:2.0', '-o', `type=oci,dest=${out}`, '--progress=quiet', '--cache-dir', join(work, 'cache')])).toBe(0);
    const index = IndexSchema.parse(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')));
    expect(index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name']).toBe('2.0');
    expect(JSON.parse(readFileSync(join(out, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const store = new BlobStore(out);
    expect(await store.has(index.manifests[0]!.digest)).toBe(true);
  });

  it('writes an OCI layout archive (-o type=oci,dest=x.tar) and a rootfs (-o DIR)', async () => {
    const ctx = context();
    const tarFile = join(work, 'image.tar');
    const rootfs = join(work, 'rootfs');
    expect(await cli(['build', ctx, '-t', 'example.com/app:3', '-o', `type=oci,dest=${tarFile}`, '-o', rootfs, '--progress=quiet', '--cache-dir', join(work, 'cache')])).toBe(0);
    const { readTar } = await import('../helpers/tar.js');
    const entries = await readTar(readFileSync(tarFile), false);
    expect(entries.map((e) => e.name)).toContain('index.json');
    expect(entries.map((e) => e.name)).toContain('oci-layout');
    expect(readFileSync(join(rootfs, 'srv/static/index.html'), 'utf8')).toBe('<h1>hi</h1>');
    const { statSync } = await import('node:fs');
    expect(statSync(join(rootfs, 'app-server')).mode & 0o777).toBe(0o755);
  });

  it('fails with a clear message when a push target is unreachable, and its metadata names the error, never a digest', async () => {
    const ctx = context();
    const meta = join(work, 'never.json');
    const code = await cli(['build', ctx, '-t', '127.0.0.1:1/x/y:1', '--push', '--progress=quiet', '--metadata-file', meta, '--cache-dir', join(work, 'cache')]);
    expect(code).toBe(1);
    expect(last.stderr).toMatch(/^error: pushing 127\.0\.0\.1:1\/x\/y:1: HEAD https?:\/\/127\.0\.0\.1:1\/v2\/x\/y\/blobs\/sha256:[0-9a-f]{64} failed: connect ECONNREFUSED/m);
    expect(last.stderr).toMatch(/^hint: check that 127\.0\.0\.1:1 is reachable/m);
    expect(last.stderr).not.toMatch(/\n\s+at /);
    // For CI tools: the error's code, no image (issue 28).
    const written = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(written)).toEqual(['error']);
    expect(written.error).toMatchObject({ code: 'NETWORK' });
  });

  it('refuses a malformed tag before building', async () => {
    writeFileSync(join(work, 'x'), '');
    expect(await cli(['build', context(), '-t', 'Bad/Name', '--push', '--progress=quiet'])).toBe(1);
    expect(last.stderr).toMatch(/^error: invalid image reference "Bad\/Name": repository names must be lowercase/m);
  });
});
