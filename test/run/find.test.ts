import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';

// RUN find, natively: the cleanup patterns of official images. The interop suite runs the same
// lines with the real busybox (run-compare.test.ts).

let base: string;
beforeAll(() => { base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`; });

async function run(lines: string) {
  // The interpreter alone: nothing is executed (--isolation native).
  const r = await buildFrom(`FROM ${base}\n${lines}\n`, {}, { isolation: 'native' });
  return { ...r, top: flatten(r.layers.slice(1)), names: r.layers.slice(1).flat().map((e) => e.name.replace(/\/$/, '')) };
}

const TREE = 'RUN mkdir -p /opt/f/a/tests /opt/f/b/test/deep /opt/f/c /opt/f/e && touch /opt/f/a/x.pyc /opt/f/a/y.py /opt/f/b/test/deep/z /opt/f/c/keep.PYC && ln -s a /opt/f/link';

describe('RUN find', () => {
  it('prunes test directories and caches as official images do', async () => {
    const r = await run(`${TREE} && find /opt/f -depth \\( -type d -a \\( -name test -o -name tests \\) \\) -exec rm -rf '{}' + && find /opt/f -name '*.pyc' -delete && find /opt/f -type d -empty -delete`);
    const left = [...r.top.keys()].filter((k) => k.startsWith('opt/f')).sort();
    expect(left).toEqual(['opt/f', 'opt/f/a', 'opt/f/a/y.py', 'opt/f/c', 'opt/f/c/keep.PYC', 'opt/f/link']);
  });

  it('prints what matches: -type, -iname, -path, -maxdepth, -mindepth, !, -prune', async () => {
    const r = await run(`${TREE}\nRUN cd /opt/f && find . -type f | sort > /files && find . -iname '*.pyc' | sort > /pyc && find /opt/f -maxdepth 1 -mindepth 1 ! -type l | sort > /top && find . -path ./b -prune -o -type f -print | sort > /pruned && find /opt/f/link > /link`);
    expect(r.top.get('files')?.content).toBe('./a/x.pyc\n./a/y.py\n./b/test/deep/z\n./c/keep.PYC\n');
    expect(r.top.get('pyc')?.content).toBe('./a/x.pyc\n./c/keep.PYC\n');
    expect(r.top.get('top')?.content).toBe('/opt/f/a\n/opt/f/b\n/opt/f/c\n/opt/f/e\n');
    expect(r.top.get('pruned')?.content).toBe('./a/x.pyc\n./a/y.py\n./c/keep.PYC\n');
    expect(r.top.get('link')?.content).toBe('/opt/f/link\n');
  });

  it('-exec ... \\; runs a native command per path; a foreign one is refused with a hint', async () => {
    const r = await run(`${TREE}\nRUN find /opt/f -type f -exec chmod 600 {} \\;`);
    expect(r.top.get('opt/f/a/y.py')).toMatchObject({ mode: 0o600 });
    await expect(run(`${TREE}\nRUN find /opt/f -type f -exec python3 -m compileall {} +`)).rejects.toThrow(/find -exec would execute "python3"/);
    await expect(run('RUN find / -newer /etc/passwd')).rejects.toThrow(/find -newer is not supported natively/);
  });
});
