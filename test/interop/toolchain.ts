import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { run, runOcimake } from './tools.js';

// Images for executor tests, made at test time from the machine's own Debian packages: host
// programs with the libraries ldd names, dash as /bin/sh. No test pulls a toolchain image.

/** Copies a host file into `root` at the same path, and the libraries ldd names for it. */
export function withLibs(root: string, file: string): void {
  const put = (p: string) => {
    const dest = join(root, p);
    if (existsSync(dest)) return;
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(realpathSync(p), dest);
    chmodSync(dest, statSync(p).mode & 0o7777);
  };
  put(file);
  for (const m of run('ldd', [file]).matchAll(/(\/\S+) \(0x/g)) put(m[1]!);
}

/** The Go toolchain's root as Debian installs it (/usr/lib/go-1.19). */
export function goRoot(): string {
  return realpathSync(join(dirname(realpathSync(run('sh', ['-c', 'command -v go']).trim())), '..'));
}

/**
 * A golang-like image in an OCI layout at `dest` (tag `tag`): Debian's Go where its package puts it,
 * PATH and GOPATH as golang's image sets them. `gopath` names host GOPATH trees (Debian's
 * /usr/share/gocode) copied in as a second GOPATH entry: packages a Dockerfile's `go get -d` would
 * fetch from the internet are found there, present, and fetched from nowhere.
 */
export function goImage(work: string, dest: string, tag: string, opts: { gopath?: string } = {}): void {
  const goroot = goRoot();
  const ctx = join(work, `golang-ctx-${tag}`);
  const rootfs = join(ctx, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  cpSync(goroot, join(rootfs, goroot), { recursive: true, verbatimSymlinks: true });
  // Debian keeps the sources apart (src is a symlink into /usr/share): those too.
  const share = goroot.replace('/usr/lib/', '/usr/share/');
  if (existsSync(share)) cpSync(share, join(rootfs, share), { recursive: true, verbatimSymlinks: true });
  if (opts.gopath) cpSync(opts.gopath, join(rootfs, opts.gopath), { recursive: true, verbatimSymlinks: true });
  withLibs(rootfs, join(goroot, 'bin', 'go'));
  withLibs(rootfs, '/bin/dash');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  if (!existsSync(join(rootfs, 'bin/sh'))) copyFileSync(join(rootfs, 'bin/dash'), join(rootfs, 'bin/sh'));
  chmodSync(join(rootfs, 'bin/sh'), 0o755);
  for (const d of ['tmp', 'root', 'go']) mkdirSync(join(rootfs, d), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  const gopath = opts.gopath ? `/go:${opts.gopath}` : '/go';
  writeFileSync(join(ctx, 'Dockerfile'), `FROM scratch\nCOPY rootfs/ /\nENV PATH=/go/bin:${goroot}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOPATH=${gopath} GO111MODULE=auto\nWORKDIR /go\n`);
  const g = runOcimake(['build', ctx, '-o', `type=oci,dest=${dest},compression=uncompressed`, '-t', `golang:${tag}`, '--cache-dir', join(work, 'cache-toolchain'), '--progress=plain']);
  expect(g.code, g.stderr).toBe(0);
}
