import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { MINIROOTFS } from '../helpers/alpine-images.js';
import { makeApkKey, serveStatic, testPackages, writeApkRepo } from '../helpers/apk-repo.js';
import { writeTree } from '../helpers/tmp.js';
import { runOcimakeAsync } from './tools.js';

/**
 * The seeds' `alpine:latest`: the real Alpine 3.20.3 rootfs in an OCI layout at `work/alpine`
 * (tag `latest`), trusting the test repository's key, and that repository (main and an empty
 * community) served on loopback for --apk-mirror. /etc/apk/repositories stays Alpine's own.
 */
export async function alpineWithMirror(work: string): Promise<{ layout: string; repo: Awaited<ReturnType<typeof serveStatic>> }> {
  const key = makeApkKey();
  await writeApkRepo(join(work, 'mirror', 'alpine', 'v3.20', 'main'), testPackages(), key);
  await writeApkRepo(join(work, 'mirror', 'alpine', 'v3.20', 'community'), [], key);
  const repo = await serveStatic(join(work, 'mirror'));
  const actx = writeTree(join(work, 'alpine-ctx'), { Dockerfile: `FROM scratch\nADD rootfs.tar.gz /\nCOPY ${key.name} /etc/apk/keys/\nCMD ["/bin/sh"]\n`, [key.name]: key.publicPem });
  copyFileSync(MINIROOTFS.amd64, join(actx, 'rootfs.tar.gz'));
  const layout = join(work, 'alpine');
  const a = await runOcimakeAsync(['build', actx, '-o', `type=oci,dest=${layout}`, '-t', 'alpine:latest', '--progress=plain', '--cache-dir', join(work, 'cache')]);
  expect(a.code, a.stderr).toBe(0);
  return { layout, repo };
}
