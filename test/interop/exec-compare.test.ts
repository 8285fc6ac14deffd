import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINIROOTFS } from '../helpers/alpine-images.js';
import { writeTree } from '../helpers/tmp.js';
import { GO_SERVER_SOURCE, seed001Dockerfile } from './go-server.js';
import { goImage } from './toolchain.js';
import { requireTools, rootfsDiff, run, runAsync, runOcimake, runOcimakeAsync, walk, type Node } from './tools.js';

// Issue 26, with buildah as the judge of executed RUNs: the same Dockerfiles built by ocimake
// with --isolation chroot (every RUN executed in its sandbox and diffed into a layer) and by
// `buildah bud --isolation chroot` give the same root filesystem and config. One Dockerfile
// deletes and replaces base files of the real Alpine rootfs in every way a layer must say
// (whiteouts, a directory replaced by a file and back, an opaque directory, a link replaced,
// modes and owners changed); GNU tar and umoci read each of our layers. The other is seed 001's
// complete Dockerfile on a Go toolchain image made here: both builders' go build give the same
// binary.

const REPLACE = [
  'RUN rm /etc/motd && rm -rf /media && rm -rf /mnt && echo now-a-file > /mnt && rm /etc/securetty && mkdir /etc/securetty && echo inside > /etc/securetty/x',
  'RUN rm -rf /etc/apk/keys && mkdir /etc/apk/keys && echo k > /etc/apk/keys/new.pub && rm /usr/bin/env && printf "#!/bin/sh\\necho env\\n" > /usr/bin/env && chmod 755 /usr/bin/env',
  'RUN chmod 600 /etc/fstab && chown 100:101 /etc/issue && mkdir -p /opt/a/b /opt/empty && echo 1 > /opt/a/b/one && echo 2 > "/opt/a/two words" && ln /etc/passwd /opt/passwd.hard && ln -s ../etc/alpine-release /opt/release && cp /bin/busybox /opt/suid && chmod 4755 /opt/suid',
  'RUN rm -rf /opt/a/b && rm /opt/release && mkdir /opt/release && adduser -D -u 1000 app',
  'USER app',
  'WORKDIR /home/app',
  'RUN touch mine && mkdir -p sub/deeper && echo x > sub/deeper/f',
];


const EMPTY = createHash('sha256').update('').digest('hex');

/** The rootfs as both builders leave it, but for what buildah leaves aside: the mount points of its RUN's resolv.conf and hosts. */
function rootfsOf(bundle: string): Map<string, Node> {
  const m = walk(join(bundle, 'rootfs'));
  // buildah leaves its RUN's /etc/resolv.conf mount point behind, an empty 0755 file no RUN wrote; ocimake leaves none.
  if (m.get('etc/resolv.conf')?.content === EMPTY) m.delete('etc/resolv.conf');
  return m;
}

describe('executed RUNs: ocimake --isolation chroot and buildah bud --isolation chroot agree', () => {
  // buildah reads the oci: path as an image name, so it must be lowercase.
  const work = join(tmpdir(), `ocimake-exec-vs-buildah-${randomBytes(6).toString('hex')}`);
  const b = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];

  /** Builds `ctx` with both; returns the unpacked bundles and our layout. */
  async function both(name: string, ctx: string): Promise<{ ours: string; theirs: string; layout: string }> {
    const layout = join(work, `ours-${name}`);
    const r = await runOcimakeAsync(['build', ctx, '--isolation', 'chroot', '-o', `type=oci,dest=${layout}`, '-t', `x/${name}:1`, '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(r.code, r.stderr).toBe(0);
    await runAsync('buildah', [...b, 'bud', '--isolation', 'chroot', '-q', '-t', `${name}:1`, ctx]);
    run('buildah', [...b, 'push', `${name}:1`, `oci:${join(work, `theirs-${name}`)}:1`]);
    run('umoci', ['unpack', '--image', `${layout}:1`, join(work, `ours-${name}-bundle`)]);
    run('umoci', ['unpack', '--image', `${join(work, `theirs-${name}`)}:1`, join(work, `theirs-${name}-bundle`)]);
    return { ours: join(work, `ours-${name}-bundle`), theirs: join(work, `theirs-${name}-bundle`), layout };
  }

  function config(layout: string): Record<string, unknown> {
    const c = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${layout}:1`])) as { config: Record<string, unknown> };
    const k = c.config;
    return { Env: k.Env, Entrypoint: k.Entrypoint, Cmd: k.Cmd, WorkingDir: k.WorkingDir, User: k.User };
  }

  beforeAll(() => {
    requireTools('buildah', 'umoci', 'skopeo', 'go', 'tar', 'unshare');
    mkdirSync(work, { recursive: true });
    const actx = writeTree(join(work, 'alpine-ctx'), { Dockerfile: 'FROM scratch\nADD rootfs.tar.gz /\nCMD ["/bin/sh"]\n' });
    copyFileSync(MINIROOTFS.amd64, join(actx, 'rootfs.tar.gz'));
    const a = runOcimake(['build', actx, '-o', `type=oci,dest=${join(work, 'alpine')}`, '-t', 'x/alpine:3.20', '--cache-dir', join(work, 'cache')]);
    expect(a.code, a.stderr).toBe(0);
    goImage(work, join(work, 'golang'), '1.10.3');
  }, 600_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('a RUN that deletes and replaces base files: the same rootfs and config, and GNU tar reads every layer', async () => {
    const ctx = writeTree(join(work, 'replace'), { Dockerfile: `FROM oci:${join(work, 'alpine')}:3.20\n${REPLACE.join('\n')}\n` });
    const { ours, theirs, layout } = await both('replace', ctx);
    const mine = rootfsOf(ours);
    expect(rootfsDiff(mine, rootfsOf(theirs))).toEqual([]);
    expect(config(layout)).toEqual(config(join(work, 'theirs-replace')));
    // What each change looks like once unpacked.
    expect(mine.has('etc/motd')).toBe(false);
    expect(mine.get('mnt')).toMatchObject({ type: 'file' });
    expect(mine.get('etc/securetty')).toMatchObject({ type: 'dir' });
    expect([...mine.keys()].filter((p) => p.startsWith('etc/apk/keys/'))).toEqual(['etc/apk/keys/new.pub']);
    expect(mine.get('usr/bin/env')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(mine.get('etc/issue')).toMatchObject({ uid: 100, gid: 101 });
    expect(mine.get('opt/suid')).toMatchObject({ mode: 0o4755 });
    expect(mine.get('opt/release')).toMatchObject({ type: 'dir' });
    expect(mine.has('opt/a/b')).toBe(false);
    expect(mine.get('home/app/sub/deeper/f')).toMatchObject({ uid: 1000 });
    // GNU tar reads every layer we wrote.
    const blobs = join(layout, 'blobs', 'sha256');
    const manifest = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${layout}:1`])) as { layers: { digest: string }[] };
    expect(manifest.layers.length).toBeGreaterThanOrEqual(1 + REPLACE.filter((l) => l.startsWith('RUN')).length);
    for (const l of manifest.layers) {
      const listing = run('tar', ['-tvzf', join(blobs, l.digest.slice(7))]);
      expect(listing.length).toBeGreaterThan(0);
    }
  }, 300_000);

  it('seed 001\'s complete Dockerfile: the same server binary and config from both builders\' go build', async () => {
    const ctx = writeTree(join(work, 'seed001'), { Dockerfile: seed001Dockerfile(`oci:${join(work, 'golang')}:1.10.3`), 'server.go': GO_SERVER_SOURCE });
    const { ours, theirs, layout } = await both('seed001', ctx);
    expect(rootfsDiff(rootfsOf(ours), rootfsOf(theirs))).toEqual([]);
    expect(config(layout)).toEqual(config(join(work, 'theirs-seed001')));
  }, 300_000);
});
