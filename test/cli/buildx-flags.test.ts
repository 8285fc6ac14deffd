import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { serveStatic } from '../helpers/apk-repo.js';
import { captured } from '../helpers/capture.js';
import { readTar } from '../helpers/tar.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { buildAndExport } from '../../src/builder/export.js';

// Issue 28: buildx flags a CI script passes are understood: they work, or are refused with
// what to do instead, never "unknown option".

let www: Awaited<ReturnType<typeof serveStatic>>;
let base: string;
beforeAll(async () => {
  const root = tempDir();
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'tool.sh'), 'echo tool\n');
  www = await serveStatic(root);
  base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`;
});
afterAll(async () => { await www?.close(); });

const ctx = () => writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
const build = (...args: string[]) => captured(() => main(['build', ...args, '--progress=quiet', '--cache-dir', join(tempDir(), 'cache')]));

describe('buildx flags', () => {
  it('--load is refused, saying how to get the image into docker', async () => {
    const r = await build(ctx(), '--load');
    expect(r.stderr).toContain('--load: ocimake runs no daemon to load the image into');
    expect(r.stderr).toContain('docker load -i image.tar');
  });

  it('--allow network.host is taken; security.insecure and unknown entitlements are refused', async () => {
    expect((await build(ctx(), '--allow', 'network.host')).value).toBe(0);
    expect((await build(ctx(), '--allow', 'security.insecure')).stderr).toContain('no privileged RUN');
    expect((await build(ctx(), '--allow', 'network.everything')).stderr).toContain('is not an entitlement');
  });

  it('--platform=local is the host\'s platform; --attest type=provenance is --provenance', async () => {
    expect((await build(ctx(), '--platform=local')).value).toBe(0);
    // Without --sign, as buildx: unsigned, in the image index, which needs a registry or an OCI layout.
    expect((await build(ctx(), '--attest', 'type=provenance,mode=max')).stderr).toContain('--provenance and --sbom go into the image index of a pushed image or an OCI layout');
    expect((await build(ctx(), '--attest', 'type=nonsense')).stderr).toContain('type must be provenance or sbom');
  });

  it('--add-host, --shm-size and --ulimit are checked', async () => {
    expect((await build(ctx(), '--add-host', 'nohost')).stderr).toContain('--add-host nohost: not host:ip');
    expect((await build(ctx(), '--ulimit', 'files=3')).stderr).toContain('names: core, cpu');
    expect((await build(ctx(), '--shm-size', 'lots')).stderr).toContain('is not a size');
  });

  it('--add-host names what a native RUN fetches, and is part of the RUN\'s key', async () => {
    const port = new URL(www.url).port;
    const c = writeTree(tempDir(), { Dockerfile: `FROM ${base}\nRUN wget -q -O /tool.sh http://tools.internal:${port}/tool.sh\n` });
    const cacheDir = join(tempDir(), 'cache');
    const one = await buildAndExport({ context: c, cacheDir, isolation: 'native', runHost: { addHosts: new Map([['tools.internal', '127.0.0.1']]) } });
    const top = await readTar(await one.image.layers.at(-1)!.source.open(one.image.layers.at(-1)!.descriptor.digest));
    expect(top.find((e) => e.name === 'tool.sh')?.content).toBe('echo tool\n');
    // Without the entry the name does not resolve: the RUN is not answered from the first build's record.
    await expect(buildAndExport({ context: c, cacheDir, isolation: 'native' })).rejects.toThrow(/tools\.internal/);
  });
});
