import { createHash, randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINIROOTFS } from '../helpers/alpine-images.js';
import { writeTree } from '../helpers/tmp.js';
import { requireTools, rootfsDiff, run, runOcimake, serveDir, walk, type Node } from './tools.js';
import { rawLayer } from '../helpers/layers.js';
import { zipOf } from '../helpers/zip.js';

// Issue 7, with the real busybox as the judge: the same Dockerfile of shell file commands on
// the real Alpine 3.20.3 rootfs, built by ocimake (nothing executed) and by
// `buildah bud --isolation chroot` (busybox executed), must give the same rootfs.

const FILE_COMMANDS = [
  'RUN ln -sf /usr/share/zoneinfo/UTC /etc/localtime && echo UTC > /etc/timezone',
  'RUN mkdir -p /opt/a/b/c /srv && rm -rf /etc/motd /media /var/cache/* && rm -rf /etc/apk/protected_paths.d && mkdir /etc/apk/protected_paths.d && touch /etc/apk/protected_paths.d/x',
  'RUN addgroup -S app && adduser -S -D -G app app && adduser -D normal && addgroup normal app',
  'RUN mkdir -p /data/x && touch /data/x/f /data/g && chown -R app:app /data && chmod -R g+w,o-rwx /data && chmod 4755 /data/g && chgrp -R normal /data/x',
  "RUN sed -i 's/^root:x:0:0:root:\\/root:\\/bin\\/sh$/root:x:0:0:root:\\/root:\\/bin\\/ash/' /etc/passwd && sed -i -e '/^guest:/d' /etc/passwd /etc/group",
  "RUN cp -a /etc/apk /opt/apk-copy && cp /etc/alpine-release /opt/ && mv /opt/a /opt/moved && printf '%s\\n' a b > /opt/p && cat /opt/p | tee /opt/t >/dev/null && ln -s ../p /opt/moved/rel",
  'RUN set -eux; for d in one two; do mkdir -p "/opt/loop/$d"; echo "$d" > "/opt/loop/$d/name"; done; if [ -d /opt/loop/one ]; then rmdir /opt/moved/b/c; fi',
  // Fetch, check, unpack (from a loopback server): busybox's wget, sha256sum -c, tar and unzip.
  'RUN wget -q -O /tmp/t.tgz @URL@/t.tgz && echo "@SHA@  /tmp/t.tgz" | sha256sum -c - && mkdir -p /opt/tool && tar -xzf /tmp/t.tgz -C /opt/tool --strip-components=1 && rm /tmp/t.tgz && wget -q -P /opt @URL@/run.sh && sha256sum /opt/run.sh > /opt/run.sha',
  'RUN cd /tmp && wget -q @URL@/tf.zip && unzip -q tf.zip -d /opt/zip && unzip -qj tf.zip -d /opt/flat -x docs/latest && rm tf.zip',
  // find's cleanup patterns, and the text filters of pipelines.
  "RUN mkdir -p /opt/f/a/tests /opt/f/b/test/deep /opt/f/c /opt/f/e && touch /opt/f/a/x.pyc /opt/f/a/y.py /opt/f/b/test/deep/z /opt/f/c/keep.PYC && find /opt/f -depth \\( -type d -a \\( -name test -o -name tests \\) \\) -exec rm -rf '{}' + && find /opt/f -name '*.pyc' -delete && find /opt/f -type d -empty -delete && find /opt/f -type f -exec chmod 600 {} \\; && find /opt/f | sort > /opt/f.list && find /opt/f -maxdepth 1 -mindepth 1 ! -name c > /opt/f.top",
  "RUN printf 'b\\na\\nb\\n\\tc d\\n' > /opt/t && sort -u /opt/t | tr a-z A-Z > /opt/sorted && sort -r /opt/t > /opt/rsorted && sha256sum /opt/sorted | cut -d' ' -f1 > /opt/sum && wc -l < /opt/f.list > /opt/count && wc /opt/t > /opt/wc && head -n1 /opt/f.list > /opt/first && tail -n 1 /opt/f.list > /opt/last && uniq -c /opt/t > /opt/uniq && cut -c2-3 /opt/t > /opt/cut && tr -d '\\n' < /opt/t > /opt/joined && tr -s ' b' < /opt/t > /opt/squeezed",
  // install and gunzip.
  "RUN cd /tmp && echo hello > f && install -m 4755 -o nobody f /usr/local/bin/f1 && install -D f /opt/deep/x/f2 && install -d -m 700 /opt/dd && install -t /opt/deep f && printf 'abc\\n' > g && chmod 640 g && chown 5:6 g && wget -q -O g.gz @URL@/g.gz && chmod 604 g.gz && rm g && gunzip g.gz && mv g /opt/g && wget -q -O /opt/z.gz @URL@/g.gz && zcat /opt/z.gz > /opt/z.txt && gunzip -k /opt/z.gz",
  // uname names the machine (the build's platform is the host's here); xargs over find.
  "RUN uname -m > /opt/arch && uname -s > /opt/os && mkdir -p /opt/x/a && touch /opt/x/a/1.tmp /opt/x/2.tmp /opt/x/keep && find /opt/x -name '*.tmp' | xargs rm -f && printf 'a\\nb\\n' | xargs -I{} touch /opt/x/{}.made && ls /opt/x > /opt/x.ls && ls -la /opt/x/a | wc -l > /opt/x.count",
  // A bind mount of the context, natively: read, not in the layer.
  'RUN --mount=type=bind,source=conf,target=/mnt/conf cat /mnt/conf/a.conf /mnt/conf/sub/b.conf > /opt/bound && ls /mnt/conf > /opt/bound.ls',
  'USER app',
  'RUN mkdir -p /tmp/app && echo hi > /tmp/app/f',
];

/**
 * The rootfs, with the two differences we choose: /etc/shadow's "last changed" is today's date
 * in busybox's output and empty in ocimake's (reproducible builds).
 */
function withoutShadowDate(root: string): Map<string, Node> {
  const m = walk(root);
  // buildah leaves the mount point of the RUN container's /etc/resolv.conf behind (an empty 0755 file); no RUN wrote it.
  if (m.get('etc/resolv.conf')?.content === createHash('sha256').update('').digest('hex')) m.delete('etc/resolv.conf');
  for (const f of ['etc/shadow', 'etc/shadow-']) {
    const s = m.get(f);
    const text = readFileSync(join(root, f), 'utf8').replace(/^([^:\n]*:[^:\n]*:)\d*:/gm, '$1:');
    if (s) m.set(f, { ...s, content: createHash('sha256').update(text).digest('hex') });
  }
  return m;
}

describe('RUN file commands: ocimake and the real busybox agree', () => {
  const work = join(tmpdir(), `ocimake-run-vs-buildah-${randomBytes(6).toString('hex')}`);

  let server: ChildProcess | undefined;

  beforeAll(async () => {
    requireTools('buildah', 'umoci');
    mkdirSync(work, { recursive: true });
    const www = join(work, 'www');
    mkdirSync(www);
    const tgz = await rawLayer([
      { name: 'tool-1.0/', type: 'directory', mode: 0o755 },
      { name: 'tool-1.0/bin/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 },
      { name: 'tool-1.0/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755, uid: 1000, gid: 1000 },
      { name: 'tool-1.0/bin/t', type: 'symlink', linkname: 'tool' },
      { name: 'tool-1.0/bin/tool2', type: 'link', linkname: 'tool-1.0/bin/tool' },
      { name: 'tool-1.0/README', content: 'read me\n', mode: 0o600 },
    ]);
    writeFileSync(join(www, 't.tgz'), tgz);
    writeFileSync(join(www, 'run.sh'), '#!/bin/sh\necho run\n');
    writeFileSync(join(www, 'g.gz'), gzipSync(Buffer.from('gunzipped\n')));
    writeFileSync(join(www, 'tf.zip'), await zipOf([
      { name: 'terraform', content: 'ELF terraform', mode: 0o755 },
      { name: 'docs/', dir: true, mode: 0o700 },
      { name: 'docs/LICENSE', content: 'MPL', mode: 0o666 },
      { name: 'docs/latest', link: 'LICENSE' },
    ]));
    const served = await serveDir(www);
    server = served.child;
    const sha = createHash('sha256').update(tgz).digest('hex');
    const commands = FILE_COMMANDS.map((l) => l.replaceAll('@URL@', served.url).replaceAll('@SHA@', sha));
    // The real Alpine 3.20.3 rootfs as a single-platform layout buildah can read.
    const actx = writeTree(join(work, 'alpine-ctx'), { Dockerfile: 'FROM scratch\nADD rootfs.tar.gz /\nCMD ["/bin/sh"]\n' });
    copyFileSync(MINIROOTFS.amd64, join(actx, 'rootfs.tar.gz'));
    const a = runOcimake(['build', actx, '-o', `type=oci,dest=${join(work, 'alpine')}`, '-t', 'x/alpine:3.20', '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(a.code, a.stderr).toBe(0);
    const base = `oci:${join(work, 'alpine')}:3.20`;
    const ctx = writeTree(join(work, 'ctx'), { Dockerfile: `FROM ${base}\n${commands.join('\n')}\n`, 'conf/a.conf': 'A=1\n', 'conf/sub/b.conf': 'B=2\n' });
    const r = runOcimake(['build', ctx, '-o', `type=oci,dest=${join(work, 'ours')}`, '-t', 'x/run:1', '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(r.code, r.stderr).toBe(0);
    const b = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
    run('buildah', [...b, 'bud', '--isolation', 'chroot', '-q', '-t', 'run-cmp:1', ctx]);
    run('buildah', [...b, 'push', 'run-cmp:1', `oci:${join(work, 'theirs')}:1`]);
    run('umoci', ['unpack', '--image', `${join(work, 'ours')}:1`, join(work, 'ours-bundle')]);
    run('umoci', ['unpack', '--image', `${join(work, 'theirs')}:1`, join(work, 'theirs-bundle')]);
  }, 300_000);

  afterAll(() => {
    server?.kill();
    rmSync(work, { recursive: true, force: true });
  });

  it('gives the same rootfs: paths, types, modes, owners, contents and link targets', () => {
    const ours = withoutShadowDate(join(work, 'ours-bundle', 'rootfs'));
    const theirs = withoutShadowDate(join(work, 'theirs-bundle', 'rootfs'));
    expect(rootfsDiff(ours, theirs)).toEqual([]);
    expect(ours.get('etc/localtime')).toMatchObject({ type: 'symlink', link: '/usr/share/zoneinfo/UTC' });
    expect(ours.get('home/app')).toMatchObject({ uid: 100, gid: 101 });
    expect(ours.get('opt/tool/bin/tool')).toMatchObject({ type: 'file', mode: 0o755, uid: 1000, gid: 1000 });
    expect(ours.get('opt/run.sh')).toMatchObject({ type: 'file', mode: 0o644 });
    expect(ours.get('opt/zip/docs')).toMatchObject({ type: 'dir', mode: 0o700 });
    expect(ours.get('opt/zip/docs/latest')).toMatchObject({ type: 'symlink', link: 'LICENSE' });
    expect(ours.get('opt/flat/terraform')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(ours.get('usr/local/bin/f1')).toMatchObject({ mode: 0o4755, uid: 65534 });
    expect(ours.get('opt/g')).toMatchObject({ mode: 0o604 });
  });
});
