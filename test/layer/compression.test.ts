import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { parseOutput } from '../../src/cli/output-spec.js';
import { hasZstd } from '../../src/layer/tar-writer.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 8: -o ...,compression=gzip|zstd|uncompressed,compression-level=N, as buildx takes them.

function layersOf(layout: string): { mediaType: string; digest: string }[] {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { mediaType: string; digest: string }[] };
  return manifest.layers;
}

describe('layer compression', () => {
  it('parses compression and compression-level, and refuses levels out of range', () => {
    expect(parseOutput('type=oci,dest=x,compression=zstd,compression-level=19')).toMatchObject({ compression: { algo: 'zstd', level: 19 } });
    expect(parseOutput('type=registry,compression-level=1')).toMatchObject({ compression: { algo: 'gzip', level: 1 } });
    expect(() => parseOutput('type=oci,dest=x,compression=gzip,compression-level=12')).toThrow(/compression-level=12 is not valid for gzip/);
    expect(() => parseOutput('type=oci,dest=x,compression=uncompressed,compression-level=1')).toThrow(/compression-level=1 is not valid for uncompressed/);
    expect(() => parseOutput('type=oci,dest=x,compression=lz4')).toThrow(/compression=lz4 is not supported/);
  });

  it('writes uncompressed and gzip-level layers, refuses outputs that disagree, and zstd where Node has it', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch AS a\nCOPY f /f\nFROM scratch\nCOPY --from=a /f /g\n', f: 'content '.repeat(1000) });
    const work = tempDir();
    const plain = join(work, 'plain');
    expect((await captured(() => main(['build', ctx, '-q', '-o', `type=oci,dest=${plain},compression=uncompressed`]))).value).toBe(0);
    expect(layersOf(plain)[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    const fast = join(work, 'fast');
    const normal = join(work, 'normal');
    await captured(() => main(['build', ctx, '-q', '-o', `type=oci,dest=${fast},compression-level=1`]));
    await captured(() => main(['build', ctx, '-q', '-o', `type=oci,dest=${normal}`]));
    expect(layersOf(fast)[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(layersOf(fast)[0]!.digest).not.toBe(layersOf(normal)[0]!.digest);
    const clash = await captured(() => main(['build', ctx, '-o', `type=oci,dest=${join(work, 'x')},compression=zstd`, '-o', `type=oci,dest=${join(work, 'y')}.tar,compression=gzip`]));
    expect(clash.stderr).toMatch(/different layer compressions \(zstd, gzip\)/);

    const z = join(work, 'zstd');
    const r = await captured(() => main(['build', ctx, '-q', '-o', `type=oci,dest=${z},compression=zstd`]));
    if (hasZstd()) {
      expect(r.stderr).toBe('');
      expect(layersOf(z)[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
      // Read back: a build FROM the zstd image copies its file out.
      const ctx2 = writeTree(tempDir(), { Dockerfile: `FROM scratch\nCOPY --from=oci:${z} /g /h\n` });
      const out = join(work, 'rootfs');
      expect((await captured(() => main(['build', ctx2, '-q', '-o', out]))).value).toBe(0);
      expect(readFileSync(join(out, 'h'), 'utf8')).toBe('content '.repeat(1000));
    } else {
      expect(r.value).toBe(1);
      expect(r.stderr).toMatch(/compression=zstd needs Node\.js 22\.15 or later/);
    }
  });
});
