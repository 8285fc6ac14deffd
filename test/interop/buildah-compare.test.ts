import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTree } from '../helpers/tmp.js';
import { requireTools, run, runOcimake, serveDir, walk } from './tools.js';
import { MINIROOTFS } from '../helpers/alpine-images.js';

// Issue 3 check 6: for a RUN-free multi-stage Dockerfile, our rootfs and config match what
// `buildah bud` (the reference for Dockerfile semantics) produces.

const DOCKERFILE = `FROM scratch AS assets
COPY site/ /srv/www/
COPY --chmod=0640 secret.txt /etc/app/secret.txt

FROM scratch
ENV APP_MODE=prod PATH=/usr/local/bin:/usr/bin
WORKDIR /srv
COPY --from=assets /srv/www /srv/www
COPY --from=assets /etc/app/secret.txt /etc/app/
COPY --chown=1000:1000 bin/ /usr/local/bin/
COPY top-link /top
COPY *.conf /etc/
ADD rootfs.tar /opt/
ADD @URL@/dl/tool.tar.gz /opt/dl/
ADD --chmod=755 @URL@/dl/run.sh /usr/local/bin/run
LABEL org.example.k=v "org.example.with space"="a b"
EXPOSE 8080/tcp 53/udp
USER 1000
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["--serve"]
`;

describe('ocimake and buildah bud agree on a RUN-free multi-stage Dockerfile', () => {
  let work: string;
  let ours: string;
  let theirs: string;
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    requireTools('buildah', 'umoci', 'skopeo');
    work = mkdtempSync(join(tmpdir(), 'ocimake-vs-buildah-'));
    // ADD <url>: both fetch the same files from a loopback server.
    mkdirSync(join(work, 'www', 'dl'), { recursive: true });
    writeFileSync(join(work, 'www', 'dl', 'tool.tar.gz'), gzipSync(Buffer.alloc(2048)));
    writeFileSync(join(work, 'www', 'dl', 'run.sh'), '#!/bin/sh\necho run\n');
    const served = await serveDir(join(work, 'www'));
    server = served.child;
    const tar = await import('tar-stream');
    const pack = tar.default.pack();
    pack.entry({ name: 'pkg/', type: 'directory', mode: 0o750, uid: 7, gid: 7 });
    pack.entry({ name: 'pkg/data.txt', mode: 0o600, uid: 7, gid: 7 }, 'archived');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const ctx = writeTree(join(work, 'ctx'), {
      Dockerfile: DOCKERFILE.replaceAll('@URL@', served.url),
      'site/index.html': '<h1>hi</h1>', 'site/css/a.css': 'body{}', 'site/latest': { link: 'index.html' },
      'secret.txt': 's3cret', 'bin/app': { content: '#!/bin/sh\necho app\n', mode: 0o755 }, 'bin/helper': { content: 'h', mode: 0o700 },
      target: 'pointed-at', 'top-link': { link: 'target' }, 'a.conf': 'a=1', 'b.conf': 'b=2',
      'rootfs.tar': Buffer.concat(chunks),
    });
    const oursLayout = join(work, 'ours');
    const r = runOcimake(['build', ctx, '-o', `type=oci,dest=${oursLayout}`, '-t', 'cmp:1', '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(r.code, r.stderr).toBe(0);
    const b = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
    run('buildah', [...b, 'bud', '--isolation', 'chroot', '-q', '-t', 'cmp:1', ctx]);
    run('buildah', [...b, 'push', 'cmp:1', `oci:${join(work, 'theirs')}:1`]);
    run('umoci', ['unpack', '--image', `${oursLayout}:1`, join(work, 'ours-bundle')]);
    run('umoci', ['unpack', '--image', `${join(work, 'theirs')}:1`, join(work, 'theirs-bundle')]);
    ours = join(work, 'ours');
    theirs = join(work, 'theirs');
  });

  afterAll(() => {
    server?.kill();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('gives the same rootfs: paths, types, modes, owners, contents and link targets', () => {
    const a = walk(join(work, 'ours-bundle', 'rootfs'));
    const b = walk(join(work, 'theirs-bundle', 'rootfs'));
    const diff: string[] = [];
    for (const p of new Set([...a.keys(), ...b.keys()])) {
      const x = JSON.stringify(a.get(p));
      const y = JSON.stringify(b.get(p));
      if (x !== y) diff.push(`${p}: ocimake ${x ?? 'absent'} / buildah ${y ?? 'absent'}`);
    }
    expect(diff).toEqual([]);
  });

  it('gives the same config', () => {
    const cfg = (layout: string) => {
      const c = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${layout}:1`])) as { config: Record<string, unknown> };
      const k = c.config;
      const labels = { ...(k.Labels as Record<string, string>) };
      delete labels['io.buildah.version'];
      return { Env: k.Env, Entrypoint: k.Entrypoint, Cmd: k.Cmd, WorkingDir: k.WorkingDir, User: k.User, ExposedPorts: k.ExposedPorts, Labels: labels, Volumes: k.Volumes, StopSignal: k.StopSignal };
    };
    expect(cfg(ours)).toEqual(cfg(theirs));
  });
});

describe('ocimake and buildah bud agree on an alpine base (oci: layout)', () => {
  let work: string;

  beforeAll(() => {
    requireTools('buildah', 'umoci', 'skopeo');
    // buildah reads the oci: path as an image name, so it must be lowercase.
    work = join(tmpdir(), `ocimake-vs-buildah-alpine-${randomBytes(6).toString('hex')}`);
    mkdirSync(work);
    const actx = join(work, 'alpine-ctx');
    mkdirSync(actx);
    copyFileSync(MINIROOTFS.amd64, join(actx, 'rootfs.tar.gz'));
    writeFileSync(join(actx, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar.gz /\nCMD ["/bin/sh"]\n');
    const a = runOcimake(['build', actx, '-o', `type=oci,dest=${join(work, 'alpine')}`, '-t', 'x/alpine:3.20', '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(a.code, a.stderr).toBe(0);
    const ctx = writeTree(join(work, 'ctx'), {
      // /root is 0700 in alpine, nobody/nogroup come from its /etc/passwd and /etc/group.
      Dockerfile: `FROM oci:${join(work, 'alpine')}:3.20\nWORKDIR /root/\nCOPY --chown=nobody:nogroup f /home/f\nCOPY app /usr/local/bin/\nCOPY app /bin/app2\nWORKDIR /srv/new\nWORKDIR ./sub/\nUSER nobody\n`,
      f: 'x', app: { content: '#!/bin/sh\n', mode: 0o755 },
    });
    const r = runOcimake(['build', ctx, '-o', `type=oci,dest=${join(work, 'ours')}`, '-t', 'x/cmp:1', '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(r.code, r.stderr).toBe(0);
    const b = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
    run('buildah', [...b, 'bud', '--isolation', 'chroot', '-q', '-t', 'cmp:1', ctx]);
    run('buildah', [...b, 'push', 'cmp:1', `oci:${join(work, 'theirs')}:1`]);
    run('umoci', ['unpack', '--image', `${join(work, 'ours')}:1`, join(work, 'ours-bundle')]);
    run('umoci', ['unpack', '--image', `${join(work, 'theirs')}:1`, join(work, 'theirs-bundle')]);
  });

  afterAll(() => { if (work) rmSync(work, { recursive: true, force: true }); });

  it('gives the same rootfs', () => {
    const a = walk(join(work, 'ours-bundle', 'rootfs'));
    const b = walk(join(work, 'theirs-bundle', 'rootfs'));
    const diff = [...new Set([...a.keys(), ...b.keys()])].filter((p) => JSON.stringify(a.get(p)) !== JSON.stringify(b.get(p)));
    expect(diff).toEqual([]);
    expect(a.get('root')?.mode).toBe(0o700);
    expect(a.get('home/f')).toMatchObject({ uid: 65534, gid: 65533 });
  });

  it('gives the same config (seed 003\'s `WORKDIR /root/` stays `/root/`; relative ones are cleaned)', () => {
    const cfg = (layout: string) => (JSON.parse(run('skopeo', ['inspect', '--config', `oci:${layout}:1`])) as { config: Record<string, unknown> }).config;
    const ours = cfg(join(work, 'ours'));
    const theirs = cfg(join(work, 'theirs'));
    for (const k of ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User']) expect(ours[k], k).toEqual(theirs[k]);
    expect(ours.WorkingDir).toBe('/srv/new/sub');
  });
});
