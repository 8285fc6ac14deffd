import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { OcimakeError } from '../../errors.js';
import { makeScratchDirSync } from '../../util/temp-files.js';
import { inMappedUserns } from './subids.js';

// How a RUN that needs a real program is executed (`--isolation`, OCIMAKE_ISOLATION):
//   native    interpret only; a RUN that needs a program is refused (ocimake's own mode)
//   rootless  an unprivileged user namespace (util-linux unshare: user, mount and PID
//             namespaces, the caller mapped to root), then chroot into the stage's tree; with
//             subordinate ids the whole build runs in a user namespace of them (subids.ts) and
//             the sandbox needs only mount and PID namespaces
//   chroot    as root (or with CAP_SYS_ADMIN and CAP_SYS_CHROOT): mount and PID namespaces
//             and chroot, as buildah's chroot isolation; files keep their real owners
//   auto      native where the interpreter covers the whole RUN, else the first of chroot
//             (as root) and rootless that works on this host, probed once per process
// util-linux's unshare is on every Linux that has a shell, and does in one exec what a
// sandbox needs here (namespaces, the id map, /proc, the chroot and working directory);
// bubblewrap would need installing. The README says so.

export type Isolation = 'native' | 'rootless' | 'chroot' | 'auto';
export type Backend = 'rootless' | 'chroot';

const ISOLATIONS: readonly Isolation[] = ['native', 'rootless', 'chroot', 'auto'];

/** The isolation asked for: the flag's value, else OCIMAKE_ISOLATION, else auto. */
export function parseIsolation(v: string | undefined = process.env.OCIMAKE_ISOLATION): Isolation {
  if (v === undefined || v === '') return 'auto';
  if ((ISOLATIONS as readonly string[]).includes(v)) return v as Isolation;
  throw new OcimakeError('FLAG_INVALID', `--isolation ${v} is not known`, { hint: 'use --isolation auto (the default), native, rootless or chroot' });
}

/** What the probe found: a backend that works, and why each one tried does not. */
export interface Probe { backend?: Backend; tried: { backend: Backend; why: string }[] }

const probed = new Map<Isolation, Probe>();

/** Finds the backend for `want` (cached per process): for auto, chroot when root, then rootless. */
export function probeBackend(want: Isolation): Probe {
  let p = probed.get(want);
  if (!p) {
    const order: Backend[] = want === 'chroot' ? ['chroot'] : want === 'rootless' ? ['rootless'] : want === 'auto' ? ['chroot', 'rootless'] : [];
    p = { tried: [] };
    for (const b of order) {
      const why = unavailable(b);
      if (why === undefined) { p.backend = b; break; }
      p.tried.push({ backend: b, why });
    }
    probed.set(want, p);
  }
  return p;
}

/** Why `b` cannot run here, or undefined when a namespace with a tmpfs mount can be made. */
function unavailable(b: Backend): string | undefined {
  if (process.platform !== 'linux') return `${process.platform} has no Linux namespaces`;
  const mapped = inMappedUserns();
  if (b === 'chroot' && mapped) return 'this build runs as root of a user namespace of subordinate ids, not as root of the host: rootless is the isolation here';
  if (b === 'chroot' && process.getuid?.() !== 0) return 'it needs root (run under sudo, or in a CI container that has CAP_SYS_ADMIN and CAP_SYS_CHROOT)';
  // Named as scratch directories are, so a run killed while probing leaves nothing the next does not sweep.
  const dir = makeScratchDirSync('probe');
  try {
    const args = [...(b === 'rootless' && !mapped ? ['--user', '--map-root-user'] : []), '--mount', '--pid', '--fork', '--kill-child', '--', 'mount', '-t', 'tmpfs', 'none', dir];
    const r = spawnSync('unshare', args, { encoding: 'utf8', timeout: 10_000 });
    if (r.error) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'util-linux\'s unshare is not installed' : r.error.message;
    if (r.status === 0) return undefined;
    const said = (r.stderr || r.stdout).trim().split('\n').pop() ?? '';
    return whyUnshareFailed(b, said || `exit ${r.status}`, readSysctl);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why the probe's unshare failed, in the host's own terms where a sysctl explains it. */
export function whyUnshareFailed(b: Backend, said: string, sysctl: (name: string) => string | undefined): string {
  if (b === 'rootless') {
    if (sysctl('kernel/apparmor_restrict_unprivileged_userns') === '1') {
      return 'this host lets unprivileged user namespaces be made but gives them no capabilities (AppArmor: kernel.apparmor_restrict_unprivileged_userns=1, as on Ubuntu 24.04 and GitHub\'s ubuntu-latest); give node an AppArmor profile that allows userns (as rootlesskit documents), or use --isolation chroot under sudo';
    }
    if (sysctl('kernel/unprivileged_userns_clone') === '0') return 'unprivileged user namespaces are turned off (kernel.unprivileged_userns_clone=0)';
    if (sysctl('user/max_user_namespaces') === '0') return 'user namespaces are turned off (user.max_user_namespaces=0)';
  }
  return `unshare failed: ${said}`;
}

function readSysctl(name: string): string | undefined {
  try { return readFileSync(`/proc/sys/${name}`, 'utf8').trim(); } catch { return undefined; }
}

/** The refusal of a RUN that needs `program` where no backend works (or native was asked for). */
export function noBackend(program: string, want: Isolation, probe: Probe | undefined): OcimakeError {
  const tried = probe?.tried.map((t) => `${t.backend}: ${t.why}`).join('; ');
  const why = want === 'native' ? '--isolation native executes nothing' : tried ? `no sandbox works on this host (${tried})` : 'no sandbox was tried';
  return new OcimakeError('RUN_UNSUPPORTED', `RUN would execute "${program}", and ${why}`, {
    hint: `${want === 'native' ? 'use --isolation auto, rootless or chroot to execute it; or ' : ''}build the artifact before ocimake and COPY it in, or give the stage's output from the host with --build-context STAGE=DIR`,
  });
}
