import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINIROOTFS } from '../helpers/alpine-images.js';
import { writeTree } from '../helpers/tmp.js';
import { REPO_ROOT, requireTools, walk } from './tools.js';

// Issue 26: rootless with subordinate ids. A user with a range in /etc/subuid and /etc/subgid
// builds inside a user namespace of them (as buildah re-executes itself), so an executed RUN
// keeps every owner, `chown` to another user works and `USER app` runs as that user; without the
// range (OCIMAKE_SUBIDS=0 here) the same RUN is refused with the way out. The test user is made
// by .ci/run (useradd + usermod --add-subuids); a machine without it fails here, saying how.

const BIN = join(REPO_ROOT, 'bin', 'ocimake.js');
const USER = 'ocimake-subid';

function requireSubidUser(): void {
  requireTools('unshare', 'newuidmap', 'newgidmap', 'setpriv');
  const has = spawnSync('id', [USER]).status === 0 && new RegExp(`^${USER}:`, 'm').test(readFileSync('/etc/subuid', 'utf8').toString());
  if (!has) {
    throw new Error(`the interop suite needs a user ${USER} with subordinate ids: useradd --system --no-create-home ${USER} && usermod --add-subuids 200000-265535 --add-subgids 200000-265535 ${USER} (.ci/run does this)`);
  }
}

/** argv to run as the test user, with HOME and TMPDIR in `work`. */
function asUser(work: string, args: readonly string[], env: Record<string, string> = {}): { cmd: string; argv: string[] } {
  const vars = Object.entries({ HOME: work, TMPDIR: join(work, 'tmp'), PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }).map(([k, v]) => `${k}=${v}`);
  return { cmd: 'setpriv', argv: [`--reuid=${USER}`, `--regid=${USER}`, '--clear-groups', 'env', '-i', ...vars, process.execPath, BIN, ...args] };
}

describe('rootless with subordinate ids', () => {
  const root = mkdtempSync(join(tmpdir(), 'ocimake-subid-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const work = join(root, 'work');
  const ctx = join(root, 'ctx');

  beforeAll(() => {
    requireSubidUser();
    chmodSync(root, 0o755);
    writeTree(ctx, {
      Dockerfile: [
        'FROM scratch',
        'ADD rootfs.tar.gz /',
        // A project script: the interpreter cannot cover it, so auto executes the RUN.
        'COPY setup.sh /usr/local/bin/',
        'RUN setup.sh',
        'USER app',
        'RUN ["/bin/sh", "-c", "id > /data/id && touch /data/secret && chmod 600 /data/secret"]',
        '',
      ].join('\n'),
      'setup.sh': '#!/bin/sh\nset -e\nadduser -D -u 1000 app\nmkdir /data\nchown app:app /data\nchmod 700 /data\n',
    });
    chmodSync(join(ctx, 'setup.sh'), 0o755);
    copyFileSync(MINIROOTFS.amd64, join(ctx, 'rootfs.tar.gz'));
    spawnSync('chmod', ['-R', 'a+rX', ctx]);
    mkdirSync(join(work, 'tmp'), { recursive: true });
    spawnSync('chown', ['-R', USER, work]);
  });

  const scratchLeft = () => readdirSync(join(work, 'tmp'));

  it('auto executes the RUNs in a user namespace of the ids: chown and USER app work, owners reach the layer, outputs are the caller\'s', () => {
    const { cmd, argv } = asUser(work, ['build', ctx, '-o', `type=oci,dest=${join(work, 'oci')},compression=uncompressed`, '-o', join(work, 'out'), '--cache-dir', join(work, 'cache'), '--progress=plain']);
    const r = spawnSync(cmd, argv, { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/RUN setup\.sh/);
    const out = join(work, 'out');
    expect(readFileSync(join(out, 'data', 'id'), 'utf8')).toMatch(/^uid=1000\(app\) gid=1000\(app\)/);
    // The image's owners, as the layers record them (GNU tar reads them).
    const layers = readdirSync(join(work, 'oci', 'blobs', 'sha256')).map((b) => join(work, 'oci', 'blobs', 'sha256', b)).filter((f) => statSync(f).size > 1024);
    const listing = layers.map((f) => spawnSync('tar', ['tvf', f, '--numeric-owner'], { encoding: 'utf8' }).stdout).join('');
    expect(listing).toMatch(/^drwx------ 1000\/1000 .* data\/$/m);
    expect(listing).toMatch(/^-rw------- 1000\/1000 .* data\/secret$/m);
    // /etc/shadow keeps its group (shadow, 42) from the base: the tree had it, not a side table.
    expect(listing).toMatch(/^-rw-r----- 0\/42 .* etc\/shadow$/m);
    // What was written outside the scratch is the caller's, not a subordinate id's.
    const uid = Number(spawnSync('id', ['-u', USER], { encoding: 'utf8' }).stdout.trim());
    const files = walk(out);
    expect([...files.values()].every((n) => n.uid === uid)).toBe(true);
    expect(statSync(join(work, 'cache')).uid).toBe(uid);
    expect(scratchLeft()).toEqual([]);
  }, 120_000);

  it('without the ids (OCIMAKE_SUBIDS=0) the RUN as USER app is refused, naming subordinate ids as the way out', () => {
    const { cmd, argv } = asUser(work, ['build', ctx, '-o', join(work, 'out2'), '--cache-dir', join(work, 'cache2'), '--progress=plain'], { OCIMAKE_SUBIDS: '0' });
    const r = spawnSync(cmd, argv, { encoding: 'utf8' });
    expect(r.status).toBe(1);
    // setup.sh's chown app fails when the namespace maps only the caller.
    expect(r.stderr).toMatch(/RUN did not complete successfully|needs another user than root/);
    expect(scratchLeft()).toEqual([]);
  }, 120_000);

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${signal} to the outer process ends the build in the namespace and leaves no scratch`, async () => {
      // A length of sleep no other process here has.
      const secs = 600 + Math.floor(Math.random() * 1000);
      const slow = writeTree(join(root, `slow-${signal}`), {
        Dockerfile: 'FROM scratch\nADD rootfs.tar.gz /\nCOPY wait.sh /\nRUN /wait.sh\n',
        'wait.sh': `#!/bin/sh\necho started\nsleep ${secs}\n`,
      });
      chmodSync(join(slow, 'wait.sh'), 0o755);
      copyFileSync(MINIROOTFS.amd64, join(slow, 'rootfs.tar.gz'));
      spawnSync('chmod', ['-R', 'a+rX', slow]);
      const { cmd, argv } = asUser(work, ['build', slow, '--cache-dir', join(work, 'cache3'), '--progress=plain', '--no-cache']);
      const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`the RUN never started: ${err}`)), 60_000);
        child.stderr.on('data', (d: Buffer) => { err += d.toString(); if (/started/.test(err)) { clearTimeout(t); resolve(); } });
      });
      child.kill(signal);
      // 'exit', not 'close': the inner holds the same stderr until it ends.
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      if (signal === 'SIGTERM') expect(code).toBe(143);
      // The inner build sees the outer go and cleans up (a SIGKILLed outer says nothing).
      for (let i = 0; i < 50 && scratchLeft().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(scratchLeft()).toEqual([]);
      // No process of the RUN is left (zombies aside: this machine's pid 1 may not reap them).
      const live = spawnSync('ps', ['-eo', 'stat=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.trim().endsWith(`sleep ${secs}`) && !/^Z/.test(l.trim()));
      expect(live).toEqual([]);
      expect(existsSync(join(work, 'tmp'))).toBe(true);
    }, 120_000);
  }
});
