import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir, type TreeSpec } from '../helpers/tmp.js';

// RUN install and gunzip, with busybox's results (the interop suite compares them with the
// real busybox).

let base: string;
beforeAll(() => { base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`; });

/** The entries of the last layer (the RUN's), by name. */
async function run(lines: string, files: TreeSpec = {}) {
  // The interpreter alone: nothing is executed (--isolation native).
  const r = await buildFrom(`FROM ${base}\n${lines}\n`, files, { isolation: 'native' });
  return flatten(r.layers.slice(-1));
}

describe('RUN install', () => {
  it('copies with 0755 unless -m, sets -o after the mode is kept, makes -d directories and -D parents', async () => {
    const top = await run('RUN cd /tmp && echo hello > f && install -m 4755 -o nobody f /usr/local/bin/f1 && install -D f /opt/deep/x/f2 && install -d -m 700 /opt/dd && install -t /opt/deep f');
    expect(top.get('usr/local/bin/f1')).toMatchObject({ mode: 0o4755, uid: 65534, gid: 0, content: 'hello\n' });
    expect(top.get('opt/deep/x/f2')).toMatchObject({ mode: 0o755, uid: 0 });
    expect(top.get('opt/deep/f')).toMatchObject({ mode: 0o755 });
    expect(top.get('opt/dd')).toMatchObject({ type: 'directory', mode: 0o700 });
    await expect(run('RUN install -s /bin/busybox /b')).rejects.toThrow(/install -s would execute strip/);
  });
});

describe('RUN gunzip, zcat, gzip -d', () => {
  it('replaces FILE.gz by FILE with its mode, or writes to standard output; never compresses', async () => {
    const gz = gzipSync(Buffer.from('gunzipped\n'));
    const top = await run('COPY g.gz k.gz /tmp/\nRUN cd /tmp && chmod 604 g.gz && gunzip g.gz && zcat k.gz > /z && gzip -dk k.gz && gunzip -c k.gz > /c', { 'g.gz': gz, 'k.gz': gz });
    expect(top.get('tmp/g')).toMatchObject({ mode: 0o604, content: 'gunzipped\n' });
    expect(top.has('tmp/.wh.g.gz')).toBe(true);
    expect(top.get('tmp/k')?.content).toBe('gunzipped\n');
    expect(top.get('z')?.content).toBe('gunzipped\n');
    expect(top.get('c')?.content).toBe('gunzipped\n');
    expect(top.has('tmp/.wh.k.gz')).toBe(false);
    await expect(run('RUN echo x > /x && gzip /x')).rejects.toThrow(/gzip \(compressing\) is not supported natively/);
  });
});

describe('RUN ls', () => {
  it('lists names one per line, and -l with modes, owners and sizes, as busybox does into a pipe', async () => {
    const top = await run('RUN ls /etc/apk > /names && echo hello > /f && chown nobody:nogroup /f && chmod 4750 /f && ls -l /f > /long && ls -ld /bin/sh /etc/apk > /dirs && ls -a /etc/apk/protected_paths.d > /all && ls -l /etc/apk/protected_paths.d > /empty');
    expect(top.get('names')?.content).toBe('arch\nkeys\nprotected_paths.d\nrepositories\nworld\n');
    expect(top.get('long')?.content).toBe('-rwsr-x---    1 nobody   nogroup          6 Jan  1  1970 /f\n');
    expect(top.get('dirs')?.content).toBe('lrwxrwxrwx    1 root     root            12 Jan  1  1970 /bin/sh -> /bin/busybox\ndrwxr-xr-x    1 root     root          4096 Jan  1  1970 /etc/apk\n');
    expect(top.get('all')?.content).toBe('.\n..\n');
    expect(top.get('empty')?.content).toBe('total 0\n');
  });
});
