import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Backend } from './isolation.js';
import type { SandboxBind } from './mounts.js';
import { inMappedUserns } from './subids.js';

// One executed RUN: util-linux's unshare makes the namespaces (a user namespace with the
// caller mapped to root for rootless; mount and PID namespaces for both) and mounts /proc in
// the tree; a host shell inside them mounts a minimal /dev (tmpfs with null, zero, full,
// random, urandom, tty bound from the host, pts, shm) and the host's resolv.conf and hosts
// read-only over the image's (BuildKit does the same; they are never in the layer, since the
// bind hides the image's file and goes with the namespace); then `unshare --root --wd` enters
// the tree, and the command runs with the image's environment only. Every process of the RUN
// is in its PID namespace, so all of them end with it; the mounts end with the mount namespace.

const SETUP = `set -e
R="$1"; WD="$2"; AS="$3"; N="$4"; shift 4
HOSTS="\${OCIMAKE_HOSTS:-/etc/hosts}"; SHM="\${OCIMAKE_SHM:-}"; LIMITS="\${OCIMAKE_LIMITS:-}"; unset OCIMAKE_HOSTS OCIMAKE_SHM OCIMAKE_LIMITS
while [ "$N" -gt 0 ]; do
  mount --bind "$1" "$R$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$R$2"; fi
  shift 3; N=$((N - 1))
done
U="$(command -v unshare)"; C="$(command -v chroot || true)"
mount -t tmpfs -o mode=755,nosuid tmpfs "$R/dev"
for d in null zero full random urandom tty; do : > "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d" 2>/dev/null || rm -f "$R/dev/$d"; done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t tmpfs -o "mode=1777,nosuid,nodev\${SHM:+,size=$SHM}" tmpfs "$R/dev/shm" 2>/dev/null || true
ln -s /proc/self/fd "$R/dev/fd"; ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"
for f in resolv.conf hosts; do
  src="/etc/$f"; if [ "$f" = hosts ]; then src="$HOSTS"; fi
  if [ -f "$src" ] && [ ! -L "$R/etc" ] && [ -f "$R/etc/$f" ] && [ ! -L "$R/etc/$f" ]; then mount --bind -o ro "$src" "$R/etc/$f" 2>/dev/null || true; fi
done
if [ -n "$LIMITS" ]; then prlimit --pid $$ $LIMITS; fi
PATH="$OCIMAKE_IMAGE_PATH"; unset OCIMAKE_IMAGE_PATH
if [ "$AS" = "0:0" ]; then exec "$U" --root="$R" --wd="$WD" -- "$@"; fi
exec "$C" --userspec="$AS" --groups="\${AS#*:}" "$R" /bin/sh -c 'cd "$0" && exec "$@"' "$WD" "$@"
`;

const live = new Set<ChildProcess>();
let exitHooked = false;

/** What to run: argv inside the tree at `root`, as `uid:gid`, in `workdir`, with exactly `env`. */
export interface SandboxRun {
  backend: Backend;
  root: string;
  argv: readonly string[];
  env: ReadonlyMap<string, string>;
  workdir: string;
  uid: number;
  gid: number;
  /** A network namespace of its own (RUN --network=none): only loopback, down. */
  noNetwork?: boolean;
  /** Bind mounts, each target a symlink-free path inside the tree whose mountpoint exists (mounts.ts). */
  binds?: readonly SandboxBind[];
  /** Each line the program writes (stdout and stderr). */
  log?: (line: string) => void;
  /** A hosts file to show as /etc/hosts (--add-host), instead of the host's. */
  hostsFile?: string;
  /** The size of /dev/shm in bytes (--shm-size). */
  shmBytes?: number;
  /** prlimit options (--ulimit): `--nofile=1024:2048` ... */
  limits?: readonly string[];
}

/** Runs the program; resolves with its exit status (128 + n when killed by signal n) and its last lines. */
export function runInSandbox(r: SandboxRun): Promise<{ status: number; tail: string[] }> {
  if (!exitHooked) {
    exitHooked = true;
    // Ctrl-C, SIGTERM or an error ends the process: the sandbox ends with it (unshare --kill-child).
    process.on('exit', () => { for (const c of live) killGroup(c); });
  }
  const ns = [...(r.backend === 'rootless' && !inMappedUserns() ? ['--user', '--map-root-user'] : []), '--mount', '--pid', ...(r.noNetwork ? ['--net'] : []), '--fork', '--kill-child', `--mount-proc=${r.root}/proc`];
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', OCIMAKE_IMAGE_PATH: r.env.get('PATH') ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of r.env) if (k !== 'PATH' && !k.startsWith('OCIMAKE_IMAGE_') && !['OCIMAKE_HOSTS', 'OCIMAKE_SHM', 'OCIMAKE_LIMITS'].includes(k)) env[k] = v;
  if (r.hostsFile) env.OCIMAKE_HOSTS = r.hostsFile;
  if (r.shmBytes) env.OCIMAKE_SHM = String(r.shmBytes);
  if (r.limits?.length) env.OCIMAKE_LIMITS = r.limits.join(' ');
  const child = spawn('unshare', [...ns, '--', '/bin/sh', '-c', SETUP, 'ocimake-sandbox', r.root, r.workdir, `${r.uid}:${r.gid}`, String(r.binds?.length ?? 0), ...(r.binds ?? []).flatMap((b) => [b.source, b.target, b.readonly ? 'ro' : 'rw']), ...r.argv], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  const tail: string[] = [];
  const lines = (stream: NodeJS.ReadableStream) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      const parts = (rest + d).split('\n');
      rest = parts.pop() ?? '';
      for (const l of parts) say(l);
    });
    stream.on('end', () => { if (rest !== '') say(rest); });
  };
  const say = (l: string) => {
    tail.push(l);
    if (tail.length > 5) tail.shift();
    r.log?.(l);
  };
  lines(child.stdout!);
  lines(child.stderr!);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => { live.delete(child); reject(err); });
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ status: code ?? 128 + (signal ? constants.signals[signal] : 0), tail });
    });
  });
}

/** SIGKILL to the sandbox's process group: unshare, the setup shell and the command (the PID namespace's init takes the rest with it). */
function killGroup(c: ChildProcess): void {
  try { if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL'); } catch { c.kill('SIGKILL'); }
}

/**
 * Ends every running sandbox and resolves once each has closed (its output pipes too, so no
 * process of it is left), or after `ms`. A tree must not be removed before: a sandbox still
 * setting up would make its /dev again in the tree once its mounts had gone with the removal.
 */
export function endSandboxes(ms = 2000): Promise<void> {
  const waits = [...live].map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) { resolve(); return; }
    c.once('close', () => resolve());
    killGroup(c);
  }));
  return Promise.race([Promise.all(waits).then(() => {}), new Promise<void>((r) => setTimeout(r, ms).unref())]);
}

