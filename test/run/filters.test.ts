import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';

// RUN's text filters. Expected outputs are busybox 1.36's (Alpine 3.20), taken by running it;
// the interop suite also compares files written through them with the real busybox.

let base: string;
beforeAll(() => { base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`; });

async function outputs(script: string): Promise<string> {
  const r = await buildFrom(`FROM ${base}\nRUN printf '10 x\\n9 y\\n-1 z\\n10 a\\n' > /n && { ${script}; } > /out\n`);
  return flatten(r.layers.slice(1)).get('out')?.content ?? '';
}

describe('RUN head, tail, sort, uniq, wc, cut, tr', () => {
  it('give busybox\'s output', async () => {
    const got = await outputs('sort -n /n; echo ---; sort -rn /n; echo ---; cut -d: -f1,3 /etc/passwd | head -3; echo ---; echo "Hello World" | tr "[:lower:]" "[:upper:]"; echo ---; tail -n +3 /n; echo ---; head -2 /n; echo ---; echo "aaa  bbb" | tr -s " a"; echo ---; printf "a\\nb\\n" | wc -c; echo ---; cut -c-2 /n; echo ---; printf "x\\ny\\n" | tail -1; echo ---; wc /n; echo ---; printf "a\\na\\nb\\n" | uniq -c');
    expect(got).toBe([
      '-1 z\n9 y\n10 a\n10 x\n', '10 x\n10 a\n9 y\n-1 z\n', 'root:0\nbin:1\ndaemon:2\n', 'HELLO WORLD\n', '-1 z\n10 a\n', '10 x\n9 y\n',
      'a bbb\n', '4\n', '10\n9 \n-1\n10\n', 'y\n', '        4         8        19 /n\n', '      2 a\n      1 b\n',
    ].join('---\n'));
  });
});
