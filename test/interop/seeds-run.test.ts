import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from '../helpers/alpine-images.js';
import type { serveStatic } from '../helpers/apk-repo.js';
import { alpineWithMirror } from './alpine-mirror.js';
import { writeTree } from '../helpers/tmp.js';
import { buildGoServer } from './go-server.js';
import { freePort, requireTools, run, runOcimakeAsync } from './tools.js';

// Issue 7's acceptance: the Alpine stages of seeds 000 and 003, verbatim but for the base
// (`alpine:latest` becomes the real Alpine 3.20.3 rootfs in an OCI layout, with the test
// repository's key in /etc/apk/keys). /etc/apk/repositories stays Alpine's own; --apk-mirror
// sends it to the repository this test serves on loopback. Nothing is executed by ocimake:
// the images unpack with umoci and their binary answers PONG under chroot.

const SEED_000 = `FROM alpine:latest
RUN apk add -U tzdata
RUN ln -sf /usr/share/zoneinfo/Asia/Shanghai  /etc/localtime
WORKDIR /root/
COPY app-server .
CMD ["./app-server"]
`;

const SEED_003 = `FROM alpine:latest
RUN apk --no-cache add ca-certificates
WORKDIR /root/
COPY app .
CMD ["./app"]
`;

async function poll(url: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    try { return await (await fetch(url)).text(); } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error(`${url} never answered`);
}

describe('seeds 000 and 003: Alpine stages with RUN apk, natively', () => {
  let work: string;
  let repo: Awaited<ReturnType<typeof serveStatic>>;
  const bundles: Record<string, string> = {};

  beforeAll(async () => {
    requireTools('umoci', 'go', 'chroot', 'openssl');
    work = mkdtempSync(join(tmpdir(), 'ocimake-seeds-run-'));
    ({ repo } = await alpineWithMirror(work));
    const bin = join(work, 'bin');
    buildGoServer(work, bin);
    for (const [name, df, file] of [['000', SEED_000, 'app-server'], ['003', SEED_003, 'app']] as const) {
      const ctx = writeTree(join(work, `ctx-${name}`), { Dockerfile: df.replace('FROM alpine:latest', `FROM oci:${join(work, 'alpine')}:latest`) });
      copyFileSync(join(bin, 'app-server'), join(ctx, file));
      const r = await runOcimakeAsync(['build', ctx, '--apk-mirror', repo.url, '-o', `type=oci,dest=${join(work, `out-${name}`)}`, '-t', `seed/${name}:1`, '--progress=plain', '--cache-dir', join(work, 'cache')]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`fetch ${repo.url}/alpine/v3.20/main/x86_64/APKINDEX.tar.gz`);
      bundles[name] = join(work, `bundle-${name}`);
      run('umoci', ['unpack', '--image', `${join(work, `out-${name}`)}:1`, bundles[name]!]);
    }
  }, 600_000);

  afterAll(async () => {
    await repo?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('seed 000: /etc/localtime resolves to the zoneinfo file apk installed, and the server answers PONG', async () => {
    const rootfs = join(bundles['000']!, 'rootfs');
    expect(readlinkSync(join(rootfs, 'etc/localtime'))).toBe('/usr/share/zoneinfo/Asia/Shanghai');
    expect(readFileSync(join(rootfs, 'usr/share/zoneinfo/Asia/Shanghai'), 'utf8')).toBe('TZif2 CST-8\n');
    expect(readFileSync(join(rootfs, 'etc/apk/world'), 'utf8')).toContain('tzdata\n');
    expect(existsSync(join(rootfs, 'var/cache/apk'))).toBe(true);
    await expectPong(rootfs, bundles['000']!, './app-server');
  });

  it('seed 003: ca-certificates is installed with its bundle and hash links as openssl names them, and the server answers PONG', async () => {
    const rootfs = join(bundles['003']!, 'rootfs');
    const certs = join(rootfs, 'etc/ssl/certs');
    expect(readFileSync(join(certs, 'ca-certificates.crt'), 'utf8')).toBe(readFileSync(fixture('certs/test-root-ca.pem'), 'utf8'));
    const hash = run('openssl', ['x509', '-hash', '-noout', '-in', fixture('certs/test-root-ca.pem')]).trim();
    expect(readlinkSync(join(certs, `${hash}.0`))).toBe('ocimake_Test_Root_CA.pem');
    expect(readlinkSync(join(certs, 'ocimake_Test_Root_CA.pem'))).toBe('/usr/share/ca-certificates/mozilla/ocimake_Test_Root_CA.crt');
    // --no-cache: no index copy stays in the image.
    expect(readFileSync(join(rootfs, 'lib/apk/db/installed'), 'utf8')).toContain('P:ca-certificates\n');
    await expectPong(rootfs, bundles['003']!, './app');
  });
});

async function expectPong(rootfs: string, bundle: string, entry: string): Promise<void> {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string } };
  expect(spec.process.args).toEqual([entry]);
  expect(spec.process.cwd).toBe('/root/'); // WORKDIR /root/ as written (buildah keeps it too)
  const port = await freePort();
  // As the runtime would: chdir to the image's WorkingDir, then run the entrypoint.
  const child = spawn('chroot', [rootfs, '/bin/sh', '-c', `cd ${spec.process.cwd} && exec ${entry}`], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ADDR: `127.0.0.1:${port}` }, stdio: 'ignore' });
  try {
    expect(await poll(`http://127.0.0.1:${port}/ping`)).toBe('PONG');
  } finally {
    child.kill('SIGKILL');
  }
}
