import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINIROOTFS } from '../helpers/alpine-images.js';
import { writeTree } from '../helpers/tmp.js';
import { GO_SERVER_SOURCE, seed001Dockerfile } from './go-server.js';
import { goImage, withLibs } from './toolchain.js';
import { freePort, REPO_ROOT, requireTools, run, runOcimake } from './tools.js';

// Issue 26: a RUN that needs a real program is executed in a sandbox and diffed into a layer.
// The builder image is made at test time from the machine's own Debian Go toolchain (and the
// libraries ldd names, with dash as /bin/sh), standing in for golang:1.10.3; seed 001's complete
// Dockerfile builds on it, once with --isolation chroot as root and once with --isolation rootless
// as an unprivileged user, and the server it built answers PONG under chroot.

const BIN = join(REPO_ROOT, 'bin', 'ocimake.js');


async function poll(url: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    try { return await (await fetch(url)).text(); } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error(`${url} never answered`);
}

describe('RUN executed in a sandbox', () => {
  const work = mkdtempSync(join(tmpdir(), 'ocimake-exec-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  chmodSync(work, 0o1777);
  const golang = join(work, 'golang');
  const alpine = join(work, 'alpine');

  beforeAll(() => {
    requireTools('go', 'unshare', 'runuser', 'chroot', 'ldd');
    goImage(work, golang, '1.10.3');
    const actx = writeTree(join(work, 'alpine-ctx'), { Dockerfile: 'FROM scratch\nADD rootfs.tar.gz /\nCMD ["/bin/sh"]\n' });
    copyFileSync(MINIROOTFS.amd64, join(actx, 'rootfs.tar.gz'));
    const a = runOcimake(['build', actx, '-o', `type=oci,dest=${alpine}`, '-t', 'alpine:3', '--cache-dir', join(work, 'cache-root')]);
    expect(a.code, a.stderr).toBe(0);
    spawnSync('chmod', ['-R', 'a+rX', golang, alpine]);
  }, 600_000);

  let builds = 0;
  /** Builds seed 001 as root (chroot) or as nobody (rootless); returns the unpacked rootfs of the final image. */
  function seed001(as: 'root' | 'nobody'): { rootfs: string; stderr: string } {
    const ctx = writeTree(join(work, `seed001-${as}`), { Dockerfile: seed001Dockerfile('golang:1.10.3'), 'server.go': GO_SERVER_SOURCE });
    spawnSync('chmod', ['-R', 'a+rX', ctx]);
    const out = join(work, `out-${as}-${++builds}`);
    const args = [BIN, 'build', ctx, '--build-context', `golang:1.10.3=oci-layout://${golang}:1.10.3`, '-o', out, '--cache-dir', join(work, `cache-${as}`), '--progress=plain', '--isolation', as === 'root' ? 'chroot' : 'rootless'];
    const env = { ...process.env, HOME: work, TMPDIR: work };
    const r = as === 'root' ? spawnSync(process.execPath, args, { encoding: 'utf8', env }) : spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, ...args], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    return { rootfs: out, stderr: r.stderr };
  }

  async function expectPong(rootfs: string): Promise<void> {
    const port = await freePort();
    const child = spawn('chroot', [rootfs, '/server'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ADDR: `127.0.0.1:${port}` }, stdio: 'ignore' });
    try {
      expect(await poll(`http://127.0.0.1:${port}/ping`)).toBe('PONG');
    } finally {
      child.kill('SIGKILL');
    }
  }

  it('seed 001 builds with go build under --isolation chroot (root), and the server answers PONG', async () => {
    const { rootfs, stderr } = seed001('root');
    expect(stderr).toMatch(/RUN CGO_ENABLED=0 .*go build/);
    expect(lstatSync(join(rootfs, 'server')).mode & 0o111).not.toBe(0);
    await expectPong(rootfs);
  }, 300_000);

  it('seed 001 builds under --isolation rootless as an unprivileged user, and the server answers PONG', async () => {
    const { rootfs } = seed001('nobody');
    await expectPong(rootfs);
  }, 300_000);

  it('an unchanged rebuild executes nothing: the RUN is answered from the step cache', () => {
    const again = seed001('root');
    expect(again.stderr).toMatch(/RUN CGO_ENABLED=0[^\n]*\n#\d+ CACHED/);
  }, 300_000);

  /** An image of host programs (and the libraries ldd names), dash as /bin/sh, built with ocimake into an OCI layout. */
  function toolImage(name: string, programs: string[], trees: string[], env: string): string {
    const rootfs = join(work, `${name}-ctx`, 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    for (const t of trees) cpSync(t, join(rootfs, t), { recursive: true, verbatimSymlinks: true });
    for (const p of [...programs, '/bin/dash']) withLibs(rootfs, p);
    copyFileSync(join(rootfs, 'bin/dash'), join(rootfs, 'bin/sh'));
    for (const d of ['tmp', 'root', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(work, `${name}-ctx`, 'Dockerfile'), `FROM scratch\nCOPY rootfs/ /\nENV ${env}\n`);
    const dest = join(work, name);
    const r = runOcimake(['build', join(work, `${name}-ctx`), '-o', `type=oci,dest=${dest},compression=uncompressed`, '-t', `${name}:1`, '--cache-dir', join(work, 'cache-root')]);
    expect(r.code, r.stderr).toBe(0);
    return `oci:${dest}:1`;
  }

  it('a cross build executes its FROM --platform=$BUILDPLATFORM builder stage on the host, as the refusal\'s hint says to', () => {
    // Before: the check was made for the target platform, so following the hint still failed.
    const ctx = writeTree(join(work, 'cross'), {
      Dockerfile: `FROM --platform=$BUILDPLATFORM alpine AS build\nARG TARGETARCH\nRUN uname -m > /built-on && echo $TARGETARCH > /for\nFROM scratch\nCOPY --from=build /built-on /for /\n`,
    });
    const out = join(work, 'cross-out');
    const r = runOcimake(['build', ctx, '--platform', 'linux/arm64', '--isolation', 'chroot', '--build-context', `alpine=oci-layout://${alpine}:3`, '-o', out, '--cache-dir', join(work, 'cache-root'), '--progress=plain']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'built-on'), 'utf8')).toBe('x86_64\n');
    expect(readFileSync(join(out, 'for'), 'utf8')).toBe('arm64\n');
    if (!existsSync('/proc/sys/fs/binfmt_misc/qemu-aarch64')) {
      // The same stage for the target: refused before anything is pulled, naming the way out.
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM alpine AS build\nRUN uname -m > /built-on\n');
      const refused = runOcimake(['build', ctx, '--platform', 'linux/arm64', '--isolation', 'chroot', '--build-context', `alpine=oci-layout://${alpine}:3`, '--cache-dir', join(work, 'cache-root')]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('FROM --platform=$BUILDPLATFORM');
    }
  }, 300_000);

  it('--add-host, --shm-size and --ulimit reach an executed RUN, as buildx gives them to its containers', () => {
    const ctx = writeTree(join(work, 'host-flags'), {
      Dockerfile: 'FROM alpine\nRUN grep tools.internal /etc/hosts > /hosts && df -k /dev/shm | tail -1 | awk \'{print $2}\' > /shm && ulimit -n > /nofile && ulimit -Hn > /nofile-hard\n',
    });
    const out = join(work, 'host-flags-out');
    const r = runOcimake(['build', ctx, '--isolation', 'chroot', '--build-context', `alpine=oci-layout://${alpine}:3`, '--add-host', 'tools.internal:10.1.2.3', '--shm-size', '64m', '--ulimit', 'nofile=512:1024', '-o', out, '--cache-dir', join(work, 'cache-root'), '--progress=plain']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'hosts'), 'utf8')).toMatch(/^10\.1\.2\.3\s+tools\.internal\n$/);
    expect(readFileSync(join(out, 'shm'), 'utf8')).toBe('65536\n');
    expect(readFileSync(join(out, 'nofile'), 'utf8')).toBe('512\n');
    expect(readFileSync(join(out, 'nofile-hard'), 'utf8')).toBe('1024\n');
    // The host's /etc/hosts is not changed, and the image's is not in the layer.
    expect(readFileSync('/etc/hosts', 'utf8')).not.toContain('tools.internal');
    expect(readFileSync(join(out, 'etc', 'hosts'), 'utf8')).not.toContain('tools.internal');
  }, 300_000);

  it('a make stage builds: make runs the Makefile\'s recipes with the image\'s own sh and cat', () => {
    const make = toolImage('make', ['/usr/bin/make', '/usr/bin/cat'], [], 'PATH=/usr/bin:/bin');
    const ctx = writeTree(join(work, 'make-run'), {
      Dockerfile: `FROM ${make} AS build\nWORKDIR /src\nCOPY Makefile in.txt ./\nRUN make\nFROM scratch\nCOPY --from=build /src/out.txt /\n`,
      Makefile: 'out.txt: in.txt\n\tcat in.txt in.txt > out.txt\n',
      'in.txt': 'made\n',
    });
    const out = join(work, 'make-out');
    const r = runOcimake(['build', ctx, '-o', out, '--cache-dir', join(work, 'cache-root'), '--progress=plain']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'out.txt'), 'utf8')).toBe('made\nmade\n');
  }, 300_000);

  it('a Node stage builds: npm ci of a package with no registry dependencies, offline', () => {
    const npmDir = realpathSync(join(dirname(realpathSync(run('sh', ['-c', 'command -v npm']).trim())), '..'));
    const node = toolImage('node', [realpathSync(process.execPath), '/usr/bin/env'], [npmDir], `PATH=/usr/local/bin:/usr/bin:/bin NPM_CONFIG_UPDATE_NOTIFIER=false`);
    const nodeBin = realpathSync(process.execPath);
    const ctx = writeTree(join(work, 'node-run'), {
      Dockerfile: `FROM ${node} AS build\nWORKDIR /app\nCOPY package.json package-lock.json index.js ./\nRUN ${nodeBin} ${npmDir}/bin/npm-cli.js ci --offline --no-audit --no-fund && ${nodeBin} index.js > /app/out.txt\nFROM scratch\nCOPY --from=build /app/out.txt /\n`,
      'package.json': JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
      'package-lock.json': JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'app', version: '1.0.0' } } }),
      'index.js': 'console.log(`node ${process.versions.node} in the sandbox`);\n',
    });
    const out = join(work, 'node-out');
    const r = runOcimake(['build', ctx, '-o', out, '--cache-dir', join(work, 'cache-root'), '--progress=plain']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'out.txt'), 'utf8')).toBe(`node ${process.versions.node} in the sandbox\n`);
    // What npm ci printed, streamed into the build log.
    expect(r.stderr).toMatch(/up to date|added 0 packages/);
  }, 300_000);

  it('RUN --mount: a bind of the context and of a stage, a cache kept by id across builds, secrets as a file and a variable; none of them in the layer, the history or the key', () => {
    const ctx = writeTree(join(work, 'mounts'), {
      Dockerfile: [
        `FROM oci:${alpine}:3 AS files`,
        'RUN mkdir /data && echo from-stage > /data/x',
        `FROM oci:${alpine}:3`,
        'RUN --mount=type=bind,source=src,target=/src --mount=type=bind,from=files,source=/data,target=/data --mount=type=cache,target=/cache --mount=type=secret,id=tok,target=/run/secrets/tok --mount=type=secret,id=tok,env=TOKEN \\',
        '    busybox true && cat /src/a /data/x > /bound && echo run >> /cache/log && wc -l < /cache/log > /cache-count && test "$TOKEN" = "$(cat /run/secrets/tok)" && wc -c < /run/secrets/tok > /secret-len',
      ].join('\n'),
      'src/a': 'from-context\n',
    });
    const build = (n: number) => {
      const out = join(work, `mounts-out-${n}`);
      const oci = join(work, `mounts-oci-${n}`);
      const r = spawnSync(process.execPath, [BIN, 'build', ctx, '-o', out, '-o', `type=oci,dest=${oci}`, '-t', 'm:1', '--no-cache', '--secret', 'id=tok,env=THE_TOKEN', '--cache-dir', join(work, 'cache-mounts'), '--progress=plain'], { encoding: 'utf8', env: { ...process.env, THE_TOKEN: 's3cr3t' } });
      expect(r.status, r.stderr).toBe(0);
      return { out, oci, stderr: r.stderr };
    };
    const first = build(1);
    expect(readFileSync(join(first.out, 'bound'), 'utf8')).toBe('from-context\nfrom-stage\n');
    expect(readFileSync(join(first.out, 'secret-len'), 'utf8').trim()).toBe('6');
    expect(readFileSync(join(first.out, 'cache-count'), 'utf8').trim()).toBe('1');
    for (const p of ['src', 'data', 'cache', 'run/secrets']) expect(existsSync(join(first.out, p)), p).toBe(false);
    const second = build(2);
    expect(readFileSync(join(second.out, 'cache-count'), 'utf8').trim()).toBe('2');
    const config = run('sh', ['-c', `cat ${second.oci}/blobs/sha256/* | strings | grep -c s3cr3t || true`]).trim();
    expect(config).toBe('0');
    expect(first.stderr + second.stderr).not.toContain('s3cr3t');
  }, 300_000);

  it('a RUN the interpreter refuses as it runs (tar -c, an option it lacks) is executed whole under auto, and refused under native', () => {
    const ctx = writeTree(join(work, 'fallback'), { Dockerfile: `FROM oci:${alpine}:3\nRUN tar -czf /x.tgz /etc/hostname && tar -tzf /x.tgz > /list && echo ab | grep -m 1 b > /z\n` });
    const out = join(work, 'fallback-out');
    const r = runOcimake(['build', ctx, '-o', out, '--cache-dir', join(work, 'cache-root'), '--progress=plain']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'list'), 'utf8')).toBe('etc/hostname\n');
    // A cache of its own: the executed RUN's layer, recorded under its key, would answer it.
    const n = runOcimake(['build', ctx, '--isolation', 'native', '-o', join(work, 'fallback-native'), '--cache-dir', join(work, 'cache-native'), '--progress=plain']);
    expect(n.code).toBe(1);
    expect(n.stderr).toMatch(/tar -c is not supported natively/);
  }, 120_000);

  it('the build\'s --network none gives an executed RUN loopback alone; RUN --network=host keeps the host\'s', () => {
    const ctx = writeTree(join(work, 'net'), { Dockerfile: `FROM oci:${alpine}:3\nRUN busybox true && grep -c : /proc/net/dev > /none\nRUN --network=host busybox true && grep -c : /proc/net/dev > /host\n` });
    const out = join(work, 'net-out');
    const r = runOcimake(['build', ctx, '--network', 'none', '-o', out, '--cache-dir', join(work, 'cache-root'), '--progress=plain']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'none'), 'utf8')).toBe('1\n');
    expect(Number(readFileSync(join(out, 'host'), 'utf8'))).toBeGreaterThan(1);
  }, 120_000);

  it('RUN --mount=type=ssh: the agent given with --ssh answers inside, at SSH_AUTH_SOCK; neither socket nor key is in the layer or the key', () => {
    const ssh = toolImage('ssh', ['/usr/bin/ssh-add'], [], 'PATH=/usr/bin:/bin');
    const key = join(work, 'agent-key');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ocimake-test-key', '-f', key]);
    const agent = run('ssh-agent', ['-s', '-a', join(work, 'agent.sock')]);
    const pid = /SSH_AGENT_PID=(\d+)/.exec(agent)![1]!;
    try {
      run('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: join(work, 'agent.sock') } });
      const ctx = writeTree(join(work, 'ssh-run'), { Dockerfile: `FROM ${ssh}\nRUN --mount=type=ssh ssh-add -l > /keys && echo "$SSH_AUTH_SOCK" > /sock\n` });
      const out = join(work, 'ssh-out');
      const r = spawnSync(process.execPath, [BIN, 'build', ctx, '--ssh', 'default', '-o', out, '--cache-dir', join(work, 'cache-root'), '--progress=plain'], { encoding: 'utf8', env: { ...process.env, SSH_AUTH_SOCK: join(work, 'agent.sock') } });
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(join(out, 'keys'), 'utf8')).toMatch(/ocimake-test-key \(ED25519\)/);
      expect(readFileSync(join(out, 'sock'), 'utf8')).toBe('/run/buildkit/ssh_agent.0\n');
      expect(existsSync(join(out, 'run/buildkit/ssh_agent.0'))).toBe(false);
      // Without --ssh, a required agent is an error that says how to pass one.
      const req = writeTree(join(work, 'ssh-req'), { Dockerfile: `FROM ${ssh}\nRUN --mount=type=ssh,required ssh-add -l\n` });
      const missing = spawnSync(process.execPath, [BIN, 'build', req, '-o', join(work, 'ssh-req-out'), '--cache-dir', join(work, 'cache-root')], { encoding: 'utf8' });
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/RUN --mount=type=ssh,id=default is required, and no --ssh default was given/);
    } finally {
      process.kill(Number(pid));
    }
  }, 120_000);

  it('the stage\'s tree is written once and kept across its executed RUNs while nothing else writes a layer; after a COPY it is written anew', () => {
    const ctx = writeTree(join(work, 'kept'), {
      Dockerfile: [
        `FROM oci:${alpine}:3`,
        // ctime of a base file: the same while the tree is kept, later once it is written again.
        'RUN busybox true && stat -c %Z /etc/passwd > /c1 && rm /etc/motd && echo one > /one && sleep 1.1',
        'ENV STEP=two',
        'RUN busybox true && stat -c %Z /etc/passwd > /c2 && test ! -e /etc/motd && cat /one > /two && sleep 1.1',
        'COPY f /f',
        'RUN busybox true && stat -c %Z /etc/passwd > /c3 && cat /f /two > /three',
      ].join('\n'),
      f: 'copied\n',
    });
    const out = join(work, 'kept-out');
    const runTmp = join(work, 'kept-tmp');
    mkdirSync(runTmp);
    const r = runOcimake(['build', ctx, '-o', out, '--cache-dir', join(work, 'cache-kept'), '--progress=plain'], { env: { ...process.env, TMPDIR: runTmp } });
    expect(r.code, r.stderr).toBe(0);
    const c = (n: number) => Number(readFileSync(join(out, `c${n}`), 'utf8'));
    expect(c(2)).toBe(c(1));
    expect(c(3)).toBeGreaterThan(c(2));
    expect(existsSync(join(out, 'etc/motd'))).toBe(false);
    expect(readFileSync(join(out, 'three'), 'utf8')).toBe('copied\none\n');
    expect(readdirSync(runTmp)).toEqual([]);
  }, 120_000);

  it('SIGTERM during an executed RUN ends the sandbox and every process in it, and removes the tree', async () => {
    const ctx = writeTree(join(work, 'term'), { Dockerfile: `FROM oci:${alpine}:3\nRUN busybox true && sleep 3000 & sleep 3001\n` });
    const runTmp = join(work, 'term-tmp');
    mkdirSync(runTmp);
    const child = spawn(process.execPath, [BIN, 'build', ctx, '-o', join(work, 'term-out'), '--cache-dir', join(work, 'cache-root'), '--progress=plain'], { env: { ...process.env, TMPDIR: runTmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const sleeping = () => spawnSync('pgrep', ['-f', 'sleep 300[01]'], { encoding: 'utf8' }).stdout.trim();
    for (let i = 0; i < 3000 && sleeping() === '' && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sleeping(), stderr).not.toBe('');
    child.kill('SIGTERM');
    expect(await new Promise((r) => child.once('exit', (code) => r(code)))).toBe(143);
    for (let i = 0; i < 100 && sleeping() !== ''; i++) await new Promise((r) => setTimeout(r, 20));
    expect(sleeping()).toBe('');
    expect(run('sh', ['-c', `cd ${runTmp} && find . | head -20`]), stderr).toBe('.\n');
  }, 120_000);

  it('SIGTERM while the sandbox is still being set up leaves nothing: the tree goes only once the sandbox has ended', async () => {
    const ctx = writeTree(join(work, 'term-early'), { Dockerfile: `FROM oci:${alpine}:3\nRUN busybox true && sleep 3002\n` });
    for (let i = 0; i < 5; i++) {
      const runTmp = join(work, `term-early-tmp-${i}`);
      mkdirSync(runTmp);
      const child = spawn(process.execPath, [BIN, 'build', ctx, '-o', join(work, `term-early-out-${i}`), '--cache-dir', join(work, 'cache-root')], { env: { ...process.env, TMPDIR: runTmp }, stdio: 'ignore' });
      const started = () => spawnSync('pgrep', ['-f', `ocimake-sandbox ${runTmp}`], { encoding: 'utf8' }).stdout.trim();
      for (let j = 0; j < 3000 && started() === '' && child.exitCode === null; j++) await new Promise((r) => setTimeout(r, 2));
      child.kill('SIGTERM');
      expect(await new Promise((r) => child.once('exit', (code) => r(code)))).toBe(143);
      expect(run('sh', ['-c', `cd ${runTmp} && find . | head -5`])).toBe('.\n');
    }
  }, 120_000);

  it('a RUN sees only the image\'s environment, keeps the owners it sets, deletes base files with whiteouts, and cannot write on the host', () => {
    const victim = join(work, 'victim');
    writeFileSync(victim, 'untouched');
    const ctx = writeTree(join(work, 'alpine-run'), {
      Dockerfile: [
        `FROM oci:${alpine}:3`,
        'ENV GREETING=hello',
        // busybox itself (busybox nproc, busybox sh -c) is a program ocimake does not interpret: the RUN is executed.
        `RUN busybox nproc > /nproc && env | sort > /env && busybox sh -c 'echo $((40 + 2))' > /answer && rm /etc/motd && mkdir /data && chown 1000:1000 /data && mkdir -p ${dirname(victim)} && echo x > ${victim} && ls /proc/1/root/ > /seen`,
        // A daemon forked by a RUN ends with it (its PID namespace).
        'RUN busybox true; sleep 60 & echo started',
        'RUN echo native > /native',
        // --network=none: a network namespace with loopback alone.
        'RUN --network=none busybox true && grep -c : /proc/net/dev > /ifaces',
        // USER: the executed RUN runs as that user, in its own home, which it owns.
        'RUN adduser -D -u 1000 app',
        'USER app',
        'WORKDIR /home/app',
        'RUN busybox true && id -u > uid && touch mine',
      ].join('\n'),
    });
    const out = join(work, 'alpine-out');
    const oci = join(work, 'alpine-oci');
    const r = spawnSync(process.execPath, [BIN, 'build', ctx, '-o', out, '-o', `type=oci,dest=${oci}`, '-t', 'x:1', '--cache-dir', join(work, 'cache-root'), '--progress=plain'], { encoding: 'utf8', env: { ...process.env, OCIMAKE_SECRET_OF_HOST: 'leak' } });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
    expect(readFileSync(join(out, victim), 'utf8')).toBe('x\n');
    expect(Number(readFileSync(join(out, 'nproc'), 'utf8'))).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'answer'), 'utf8')).toBe('42\n');
    const env = readFileSync(join(out, 'env'), 'utf8');
    expect(env).toContain('GREETING=hello\n');
    expect(env).not.toMatch(/OCIMAKE|leak/);
    expect(existsSync(join(out, 'etc/motd'))).toBe(false);
    expect(readFileSync(join(out, 'seen'), 'utf8')).toContain('etc\n');
    expect(readFileSync(join(out, 'native'), 'utf8')).toBe('native\n');
    expect(readFileSync(join(out, 'ifaces'), 'utf8')).toBe('1\n');
    // umoci reads the layer: the whiteout and the owner are in it.
    requireTools('umoci');
    const bundle = join(work, 'alpine-bundle');
    run('umoci', ['unpack', '--image', `${oci}:1`, bundle]);
    expect(existsSync(join(bundle, 'rootfs/etc/motd'))).toBe(false);
    expect(statSync(join(bundle, 'rootfs/data')).uid).toBe(1000);
    expect(readFileSync(join(bundle, 'rootfs/home/app/uid'), 'utf8')).toBe('1000\n');
    expect(statSync(join(bundle, 'rootfs/home/app/mine')).uid).toBe(1000);
  }, 300_000);
});
