import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { writeDockerArchive } from '../../src/layout/docker-archive.js';
import { writeOciArchive } from '../../src/layout/oci-archive.js';
import { captured } from '../helpers/capture.js';
import { memoryImage, rawLayer } from '../helpers/layers.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 24: an output that cannot be written is refused before the build (as buildx checks
// its outputs), and a write that fails late is one `error:` line, never an uncaught exception.
// /proc/self cannot be written even by root, so this holds as root and as anyone else.

describe('outputs that cannot be written', () => {
  const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });

  it.each(['type=docker,dest=/proc/self/img.tar', 'type=oci,dest=/proc/self/img.tar', 'type=oci,dest=/proc/self/layout', 'type=tar,dest=/proc/self/rootfs.tar', 'type=local,dest=/proc/self/rootfs'])(
    '-o %s fails before the build, in one error line', async (spec) => {
      const r = await captured(() => main(['build', ctx, '-o', spec, '--progress', 'plain', '--cache-dir', tempDir()]));
      expect(r.value).toBe(1);
      expect(r.stderr).toMatch(/^error: -o .*: \/proc\/self\/\S+ cannot be written: \/proc\/self: /m);
      expect(r.stderr).not.toMatch(/FROM scratch|COPY a/);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    },
  );

  it('an archive whose file cannot be opened rejects at once, with nothing left unhandled', async () => {
    const { image } = memoryImage([await rawLayer([{ name: 'f', content: 'x' }])]);
    for (const write of [() => writeDockerArchive('/proc/self/img.tar', image, []), () => writeOciArchive('/proc/self/img.tar', image)]) {
      const err = await write().then(() => undefined, (e: unknown) => e);
      expect((err as NodeJS.ErrnoException).code).toMatch(/^E(ACCES|NOENT|PERM)$/);
    }
  });
});
