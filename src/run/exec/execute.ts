import { chmodSync, lchownSync, lstatSync, mkdirSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { OcimakeError } from '../../errors.js';
import type { Image } from '../../image/image.js';
import { MergedFs } from '../../image/merged-fs.js';
import type { LayerEntry } from '../../layer/entry.js';
import { writeRootfs } from '../../source/extract.js';
import { parseRunFlags, type NetworkMode } from '../flags.js';
import { resolveRunUser } from '../user-spec.js';
import { prepareMounts, resolveInTree, type MountSources } from './mounts.js';
import type { RunSpec } from '../run.js';
import type { Backend } from './isolation.js';
import { runInSandbox } from './sandbox.js';
import { mappedIdCount } from './subids.js';
import { snapshot, treeChanges } from './tree-diff.js';

// A RUN that needs a real program, executed: the stage's merged filesystem is written out
// into a scratch tree, the command runs in a sandbox over it (sandbox.ts), and what it changed
// becomes the layer (tree-diff.ts). As root (chroot), the tree gets the image's owners, so
// `USER node` finds its home its own; so it does rootless in a user namespace of subordinate
// ids (subids.ts), where ocimake is root over the tree; rootless with the caller's id alone, the
// tree is the caller's and the image's owners are kept in a side table, as fakeroot does, so the
// layer still records them. The tree is
// removed once the layer is written (`done`), or kept for the stage's next executed RUN, which
// runs on it as it is when nothing came between (`reuseTree`): a `FROM golang` base is written
// out once per stage, not once per RUN.

/** What an executed RUN needs to know. */
export interface ExecInputs {
  backend: Backend;
  spec: RunSpec;
  image: Image;
  env: ReadonlyMap<string, string>;
  workdir: string;
  user: string;
  /** A directory of the build's scratch to hold the tree. */
  scratch: string;
  /** Where bind sources, secrets and cache mounts come from. */
  mounts: MountSources;
  log?: (line: string) => void;
  /** The tree in `scratch` is the stage's as the last executed RUN left it, and `image` is that RUN's result: run on it as it is. */
  reuseTree?: boolean;
  /** The network the RUN gets: its own --network, else the build's (`--network`). */
  network?: NetworkMode;
  /** What the build gives every executed RUN: --add-host entries, --shm-size, --ulimit. */
  host?: RunHost;
}

/** buildx's flags for the containers of RUN: extra /etc/hosts entries, the size of /dev/shm, resource limits. */
export interface RunHost {
  addHosts?: ReadonlyMap<string, string>;
  shmBytes?: number;
  /** prlimit options, e.g. `--nofile=1024:2048`. */
  limits?: readonly string[];
}

const SKIP = new Set(['proc', 'dev', 'sys']);
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Executes the RUN; returns its layer's entries, its history line, and `done` to remove the tree after the layer is written. */
export async function executeRun(inp: ExecInputs): Promise<{ entries: readonly LayerEntry[]; createdBy: string; done: () => Promise<void> }> {
  const argv = argvOf(inp.spec);
  const flags = parseRunFlags(inp.spec.flags, true);
  const root = join(inp.scratch, 'rootfs');
  if (!inp.reuseTree) await writeRootfs(root, inp.image);
  const done = () => fs.rm(inp.scratch, { recursive: true, force: true });
  try {
    // The image's owners, by path: set on the tree as root, kept aside rootless.
    const mfs = new MergedFs(inp.image, 'the stage');
    const intended = new Map<string, { uid: number; gid: number }>();
    for (const m of inp.image.layers.length ? await mfs.descendants('') : []) intended.set(m.entry.path, { uid: m.entry.uid, gid: m.entry.gid });
    const asRoot = process.getuid?.() === 0;
    // Root of the host, or of a user namespace of subordinate ids: the tree gets the image's owners.
    const ids = mappedIdCount();
    const owns = (inp.backend === 'chroot' && asRoot) || ids !== undefined;
    // What the tree cannot hold (rootless with one id; an id outside the namespace) is kept aside.
    const aside = owns ? new Map<string, { uid: number; gid: number }>() : intended;
    if (owns && !inp.reuseTree) {
      for (const [path, o] of intended) {
        if (o.uid === 0 && o.gid === 0) continue;
        const p = join(root, path);
        let m;
        try { m = await fs.lstat(p); } catch { continue; /* a path the tree writer did not write (a device) */ }
        try {
          lchownSync(p, o.uid, o.gid);
          // chown clears setuid and setgid: put them back.
          if (!m.isSymbolicLink() && (m.mode & 0o6000) !== 0) chmodSync(p, m.mode & 0o7777);
        } catch {
          aside.set(path, o);
        }
      }
    }
    const user = await resolveRunUser(inp.user, (f) => fs.readFile(join(root, resolveInTree(root, f)), 'utf8').catch(() => ''));
    if (inp.backend === 'rootless' && ids === undefined && (user.uid !== 0 || user.gid !== 0)) {
      throw new OcimakeError('RUN_UNSUPPORTED', `RUN as USER ${inp.user} needs another user than root in the sandbox, and rootless isolation here maps only the caller (as root): it has no subordinate ids`, {
        hint: 'give the user a range in /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535, and the uidmap package), build as root with --isolation chroot (sudo), or run this step as root (USER root before it, USER again after)',
      });
    }
    if (ids !== undefined && (user.uid >= ids || user.gid >= ids)) {
      throw new OcimakeError('RUN_UNSUPPORTED', `RUN as USER ${inp.user} (${user.uid}:${user.gid}) needs an id outside the ${ids} ids this user namespace maps (0 is the caller, 1…${ids - 1} its subordinate ids)`, {
        hint: 'give the user a larger range in /etc/subuid and /etc/subgid (65536 ids is usual), or use an id below it',
      });
    }
    // /proc and /dev are mounted on: real directories of the tree (a symlink there is replaced; neither is ever in a layer).
    for (const d of ['proc', 'dev']) {
      if (lstatSync(join(root, d), { throwIfNoEntry: false })?.isSymbolicLink()) await fs.rm(join(root, d));
      mkdirSync(join(root, d), { recursive: true });
    }
    const workdir = `/${resolveInTree(root, inp.workdir || '/')}`;
    mkdirSync(join(root, workdir), { recursive: true });
    const before = snapshot(root, SKIP);
    const mounts = await prepareMounts(root, flags.mounts, workdir, inp.mounts, inp.scratch);
    const env = new Map(inp.env);
    if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
    if (!env.has('HOME')) env.set('HOME', user.home);
    for (const [k, v] of mounts.env) env.set(k, v);
    let r: Awaited<ReturnType<typeof runInSandbox>>;
    try {
      const hostsFile = inp.host?.addHosts?.size ? await writeHosts(inp.scratch, inp.host.addHosts) : undefined;
      r = await runInSandbox({
        backend: inp.backend, root, argv, env, workdir, uid: user.uid, gid: user.gid, binds: mounts.binds, ...((inp.network ?? flags.network) === 'none' ? { noNetwork: true } : {}), ...(inp.log ? { log: inp.log } : {}),
        ...(hostsFile ? { hostsFile } : {}), ...(inp.host?.shmBytes ? { shmBytes: inp.host.shmBytes } : {}), ...(inp.host?.limits?.length ? { limits: inp.host.limits } : {}),
      });
    } finally {
      mounts.cleanup();
    }
    const excluded = mounts.excluded;
    if (r.status !== 0) {
      throw new OcimakeError('RUN_FAILED', `RUN did not complete successfully: exit code: ${r.status}${r.tail.length ? `\n${r.tail.join('\n')}` : ''}`, {
        hint: `the command failed as it would in a container (executed with --isolation ${inp.backend}); its output is above`,
      });
    }
    const after = snapshot(root, SKIP);
    for (const t of excluded) for (const m of [before, after]) for (const k of [...m.keys()]) if (k === t || k.startsWith(`${t}/`)) m.delete(k);
    const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    const single = inp.backend === 'rootless' && ids === undefined;
    const entries = treeChanges(root, before, after, {
      intended: (p) => aside.get(p),
      // Rootless with one id, the caller is root inside: what it made is root's.
      uid: (id) => (single && id === me.uid ? 0 : id),
      gid: (id) => (single && id === me.gid ? 0 : id),
    });
    const createdBy = `RUN ${inp.spec.json ? JSON.stringify(argv) : `${argv.slice(0, -1).join(' ')} ${argv.at(-1)}`} # ocimake ${inp.backend}`;
    return { entries, createdBy, done };
  } catch (err) {
    await done();
    throw err;
  }
}

/** The host's /etc/hosts with the --add-host entries after it, in the RUN's scratch (shown read-only as /etc/hosts). */
async function writeHosts(scratch: string, add: ReadonlyMap<string, string>): Promise<string> {
  const base = await fs.readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n::1\tlocalhost\n');
  const file = join(scratch, 'hosts');
  await fs.writeFile(file, `${base}${base.endsWith('\n') || base === '' ? '' : '\n'}${[...add].map(([h, ip]) => `${ip}\t${h}\n`).join('')}`, { mode: 0o644 });
  return file;
}

/** The program and its arguments: exec form as given, shell form through the stage's SHELL (heredocs as BuildKit joins them). */
function argvOf(spec: RunSpec): string[] {
  if (spec.json) return [...spec.args];
  let text = spec.args.join(' ');
  if (spec.heredocs.length === 1 && /^<<-?\s*["']?[^\s"']+["']?$/.test(text.trim())) text = spec.heredocs[0]!.content;
  else for (const h of spec.heredocs) text += `\n${h.content}${h.content.endsWith('\n') || h.content === '' ? '' : '\n'}${h.name}`;
  const shell = spec.shell.length ? spec.shell : ['/bin/sh', '-c'];
  return [...shell, text];
}
