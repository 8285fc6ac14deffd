import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';

// RUN uname and xargs. Expected outputs are busybox 1.36's, taken by running it.

let base: string;
beforeAll(() => { base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`; });

async function out(script: string, platform?: string): Promise<string> {
  const r = await buildFrom(`FROM ${base}\nRUN { ${script}; } > /out\n`, {}, platform ? { platform: { os: 'linux', architecture: platform } } : {});
  return flatten(r.layers.slice(-1)).get('out')?.content ?? '';
}

describe('RUN uname and xargs', () => {
  it('uname -m names the platform being built, for download URLs', async () => {
    expect(await out('uname -m; uname -s; uname')).toBe('x86_64\nLinux\nLinux\n');
    expect(await out('uname -m', 'arm64')).toBe('aarch64\n');
  });

  it('xargs runs a native command over its input, as busybox does', async () => {
    const got = await out(`printf "a b\\nc\\n" | xargs echo; printf "a b\\nc\\n" | xargs -n1 echo; printf "a\\nb\\n" | xargs -I{} echo x{}y; printf "" | xargs echo none; printf "" | xargs -r echo none; echo '"q w" e' | xargs -n1 echo`);
    expect(got).toBe('a b c\na\nb\nc\nxay\nxby\nnone\nq w\ne\n');
  });

  it('xargs removes what find lists', async () => {
    const r = await buildFrom(`FROM ${base}\nRUN mkdir -p /c/a /c/b && touch /c/a/x.tmp /c/b/y.tmp /c/keep && find /c -name '*.tmp' | xargs rm -f\n`);
    expect([...flatten(r.layers.slice(-1)).keys()].filter((k) => k.startsWith('c/')).sort()).toEqual(['c/a', 'c/b', 'c/keep']);
  });
});
