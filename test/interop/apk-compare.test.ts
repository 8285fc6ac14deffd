import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINIROOTFS } from '../helpers/alpine-images.js';
import { makeApkKey, serveStatic, testPackages, writeApkRepo } from '../helpers/apk-repo.js';
import { writeTree } from '../helpers/tmp.js';
import { requireTools, rootfsDiff, run, runOcimake, runOcimakeAsync, walk, type Node } from './tools.js';

// Issue 7, with the real apk-tools as the judge: a repository made at test time is served on
// loopback, its key goes into the real Alpine 3.20.3 rootfs, and the same Dockerfile is built
// by ocimake (nothing executed) and by `buildah bud --isolation chroot` (apk executed).

const STEPS = [
  'RUN apk add -U tzdata',
  'RUN apk --no-cache add footool',
  "RUN apk --no-cache add 'libfoo<1.2' && apk --no-cache del footool",
  'RUN ln -sf /usr/share/zoneinfo/Asia/Shanghai /etc/localtime && echo Asia/Shanghai > /etc/timezone',
];

const EMPTY = createHash('sha256').update('').digest('hex');

function rootfs(root: string): Map<string, Node> {
  const m = walk(root);
  // buildah leaves the mount point of the RUN container's /etc/resolv.conf behind (an empty 0755 file); no RUN wrote it.
  if (m.get('etc/resolv.conf')?.content === EMPTY) m.delete('etc/resolv.conf');
  return m;
}

describe('RUN apk: ocimake and the real apk-tools agree', () => {
  const work = join(tmpdir(), `ocimake-apk-vs-buildah-${randomBytes(6).toString('hex')}`);
  let repo: Awaited<ReturnType<typeof serveStatic>>;

  beforeAll(async () => {
    requireTools('buildah', 'umoci');
    mkdirSync(work, { recursive: true });
    const key = makeApkKey();
    await writeApkRepo(join(work, 'repo', 'main'), testPackages(), key);
    repo = await serveStatic(join(work, 'repo'));
    const actx = writeTree(join(work, 'alpine-ctx'), { Dockerfile: 'FROM scratch\nADD rootfs.tar.gz /\nCMD ["/bin/sh"]\n' });
    copyFileSync(MINIROOTFS.amd64, join(actx, 'rootfs.tar.gz'));
    const a = runOcimake(['build', actx, '-o', `type=oci,dest=${join(work, 'alpine')}`, '-t', 'x/alpine:3.20', '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(a.code, a.stderr).toBe(0);
    const dockerfile = `FROM oci:${join(work, 'alpine')}:3.20\nCOPY ${key.name} /etc/apk/keys/\nCOPY repositories /etc/apk/repositories\n${STEPS.join('\n')}\n`;
    const ctx = writeTree(join(work, 'ctx'), { Dockerfile: dockerfile, [key.name]: key.publicPem, repositories: `${repo.url}/main\n` });
    // Asynchronously: this process serves the repository while ocimake fetches from it.
    const r = await runOcimakeAsync(['build', ctx, '-o', `type=oci,dest=${join(work, 'ours')}`, '-t', 'x/apk:1', '--progress=plain', '--cache-dir', join(work, 'cache')]);
    expect(r.code, r.stderr).toBe(0);
    const b = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
    await new Promise<void>((resolve, reject) => {
      // buildah runs in a child while this process serves the repository.
      import('node:child_process').then(({ execFile }) => execFile('buildah', [...b, 'bud', '--isolation', 'chroot', '-q', '-t', 'apk-cmp:1', ctx], { maxBuffer: 1 << 26 }, (err, _o, stderr) => (err ? reject(new Error(`buildah bud failed: ${stderr}`)) : resolve())), reject);
    });
    run('buildah', [...b, 'push', 'apk-cmp:1', `oci:${join(work, 'theirs')}:1`]);
    run('umoci', ['unpack', '--image', `${join(work, 'ours')}:1`, join(work, 'ours-bundle')]);
    run('umoci', ['unpack', '--image', `${join(work, 'theirs')}:1`, join(work, 'theirs-bundle')]);
  }, 600_000);

  afterAll(async () => {
    await repo?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('gives the same rootfs: packages, world, installed database and index cache', () => {
    const oursRoot = join(work, 'ours-bundle', 'rootfs');
    const theirsRoot = join(work, 'theirs-bundle', 'rootfs');
    const diff = rootfsDiff(rootfs(oursRoot), rootfs(theirsRoot));
    if (diff.some((d) => d.startsWith('lib/apk/db/installed'))) {
      expect(readFileSync(join(oursRoot, 'lib/apk/db/installed'), 'utf8')).toBe(readFileSync(join(theirsRoot, 'lib/apk/db/installed'), 'utf8'));
    }
    expect(diff).toEqual([]);
  });
});
