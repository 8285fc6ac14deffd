import { captured } from '../helpers/capture.js';
import { validatePushed } from '../helpers/validate.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { main } from '../../src/cli/main.js';
import { openImage } from '../../src/source/open.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { IndexSchema } from '../../src/oci/schemas.js';
import { Remote } from '../../src/remote/registry-image.js';
import { readTar } from '../helpers/tar.js';
import { writeTree } from '../helpers/tmp.js';

// `--platform linux/amd64,linux/arm64` as buildx does it: one image per platform (prebuilt
// binaries picked with TARGETARCH), an OCI index over them, pushed and written as a layout.

describe('multi-platform builds', () => {
  let reg: RunningRegistry;
  const work = mkdtempSync(join(tmpdir(), 'ocimake-mp-'));
  beforeAll(async () => { reg = await startRegistry(); });
  afterAll(async () => reg?.close());

  async function appOf(spec: string, platform: string): Promise<string> {
    const opened = await openImage(spec, { remote: new Remote({}), platform: parsePlatform(platform), store: new BlobStore(join(work, 'pull-cache')) });
    expect(opened.image.config.architecture).toBe(parsePlatform(platform).architecture);
    const l = opened.image.layers[0]!;
    return (await readTar(await l.source.open(l.descriptor.digest))).find((e) => e.name === 'app')!.content!;
  }

  it('pushes an index whose tag resolves per platform, and writes it as an OCI layout', async () => {
    const ctx = writeTree(join(work, 'ctx'), {
      Dockerfile: 'FROM scratch\nARG TARGETARCH\nCOPY bin/${TARGETARCH}/app /app\nENTRYPOINT ["/app"]\n',
      'bin/amd64/app': 'amd64 binary', 'bin/arm64/app': 'arm64 binary',
    });
    const meta = join(work, 'meta.json');
    const layout = join(work, 'layout');
    const { value: code, stdout } = await captured(() => main(['build', ctx, '--platform', 'linux/amd64,linux/arm64', '-t', `${reg.host}/mp/app:1`, '--push', '-o', `type=oci,dest=${layout}`, '--metadata-file', meta, '--progress=quiet', '--cache-dir', join(work, 'cache')]));
    expect(stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(code).toBe(0);
    const digest = (JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>)['containerimage.digest'];
    const res = await fetch(`${reg.url}/v2/mp/app/manifests/1`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
    expect(res.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    const index = IndexSchema.parse(await res.json());
    expect(index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}${m.platform?.variant ? `/${m.platform.variant}` : ''}`)).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(await appOf(`${reg.host}/mp/app:1`, 'linux/arm64')).toBe('arm64 binary');
    expect(await appOf(`${reg.host}/mp/app:1`, 'linux/amd64')).toBe('amd64 binary');
    expect(await appOf(`oci:${layout}:1`, 'linux/arm64')).toBe('arm64 binary');
    for (const p of ['linux/amd64', 'linux/arm64']) await validatePushed(`${reg.host}/mp/app:1`, undefined, p);
  });

  it('refuses outputs that cannot hold several platforms', async () => {
    const ctx = writeTree(join(work, 'ctx2'), { Dockerfile: 'FROM scratch\n' });
    const r = await captured(() => main(['build', ctx, '--platform', 'linux/amd64,linux/arm64', '-o', `type=docker,dest=${join(work, 'x.tar')}`, '--progress=quiet']));
    expect(r.value).toBe(1);
    expect(r.stderr).toMatch(/^error: .*docker.*(one platform|several platforms|multi-platform)/im);
    expect(r.stderr).toMatch(/^hint: /m);
  });
});
