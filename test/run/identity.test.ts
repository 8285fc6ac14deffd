import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';

// RUN id, whoami, env, printenv, mktemp and sleep. Outputs are busybox 1.36's, taken by running it.

let base: string;
beforeAll(() => { base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`; });

async function run(lines: string) {
  const r = await buildFrom(`FROM ${base}\n${lines}\n`);
  return { digest: r.artifacts.digest, top: flatten(r.layers.slice(-1)) };
}

describe('RUN id, whoami, env, printenv, mktemp, sleep', () => {
  it('answers as busybox does, from the stage\'s own users', async () => {
    const { top } = await run('RUN { id; id -u; id -g; id -un; whoami; id nobody; A=1 env | grep "^A="; printenv HOME; sleep 1; env B=2 printenv B; }> /out');
    expect(top.get('out')?.content).toBe('uid=0(root) gid=0(root)\n0\n0\nroot\nroot\nuid=65534(nobody) gid=65534(nobody) groups=65534(nobody)\nA=1\n/root\n2\n');
  });

  it('mktemp makes 0600 files and 0700 directories, with names the same on every build', async () => {
    const lines = 'RUN f=$(mktemp) && d=$(mktemp -d) && g=$(mktemp /opt/foo.XXXXXX) && echo "$f $d $g" > /names';
    const a = await run(lines);
    const b = await run(lines);
    const [f, d, g] = (a.top.get('names')?.content ?? '').trim().split(' ');
    expect(f).toMatch(/^\/tmp\/tmp\.[A-Za-z0-9x]{6}$/);
    expect(g).toMatch(/^\/opt\/foo\.[A-Za-z0-9x]{6}$/);
    expect(a.top.get(f!.slice(1))).toMatchObject({ type: 'file', mode: 0o600 });
    expect(a.top.get(d!.slice(1))).toMatchObject({ type: 'directory', mode: 0o700 });
    expect(b.digest).toBe(a.digest);
  });
});
