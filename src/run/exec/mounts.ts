import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readlinkSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { OcimakeError } from '../../errors.js';
import type { RunMount } from '../flags.js';

// The mounts of an executed RUN, made ready on the host before the sandbox starts: each target
// resolved inside the tree (its symlinks followed against the tree's root, never the host's,
// so an image whose /run is a symlink to /etc cannot send a mount onto a host path), its
// mountpoint made where missing (and removed after the RUN, so it is not in the layer), and
// its source: a directory under the cache dir kept by id (cache), an empty directory (tmpfs),
// what the builder gives for a bind (a path of the context, or of another stage written out),
// or the secret's bytes in a 0400 file outside the tree.

/** What the builder provides: where a bind's source is on disk, and a secret's value. */
export interface MountSources {
  /** The directory cache mounts are kept in, by id (none: each RUN gets an empty one). */
  cacheDir?: string;
  bindSource(m: Extract<RunMount, { type: 'bind' }>): Promise<string>;
  secret(id: string): Promise<Buffer | undefined>;
  /** The SSH agent socket given with --ssh ID[=SOCKET], if any. */
  sshSocket?(id: string): string | undefined;
}

/** A bind the sandbox makes: host `source` onto `target` (a path inside the tree, no symlinks in it). */
export interface SandboxBind { source: string; target: string; readonly: boolean }

export interface PreparedMounts {
  binds: SandboxBind[];
  /** Variables secrets with env= add to the RUN's environment. */
  env: Map<string, string>;
  /** Paths (relative to the tree) kept out of the layer: the targets. */
  excluded: string[];
  /** Removes the mountpoints made for the RUN. */
  cleanup(): void;
}

/** Resolves `path` inside the tree at `root` (symlinks against the tree's root); returns the tree-relative real path. */
export function resolveInTree(root: string, path: string): string {
  const parts = posix.resolve('/', path).split('/').filter(Boolean);
  const out: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const name = parts.shift()!;
    if (name === '..') { out.pop(); continue; }
    if (name === '.') continue;
    const rel = [...out, name].join('/');
    let st;
    try { st = lstatSync(join(root, rel)); } catch { out.push(name); continue; }
    if (!st.isSymbolicLink()) { out.push(name); continue; }
    if (++hops > 40) throw new OcimakeError('RUN_MOUNT_INVALID', `the mount target ${path} goes through more than 40 symlinks`);
    const link = readlinkSync(join(root, rel));
    if (link.startsWith('/')) out.length = 0;
    parts.unshift(...link.split('/').filter(Boolean));
  }
  return out.join('/');
}

/** Makes every mount of the RUN ready (scratch: a private directory for secrets and tmpfs). */
export async function prepareMounts(root: string, mounts: readonly RunMount[], workdir: string, sources: MountSources, scratch: string): Promise<PreparedMounts> {
  const binds: SandboxBind[] = [];
  const env = new Map<string, string>();
  const excluded: string[] = [];
  const made: string[] = [];
  const mountpoint = (target: string, dir: boolean): string => {
    const rel = resolveInTree(root, posix.resolve(workdir || '/', target));
    const segs = rel.split('/');
    for (let i = 1; i <= segs.length; i++) {
      const p = join(root, segs.slice(0, i).join('/'));
      let exists = true;
      try { lstatSync(p); } catch { exists = false; }
      if (exists) continue;
      if (i < segs.length || dir) mkdirSync(p);
      else writeFileSync(p, '');
      made.push(p);
    }
    excluded.push(rel);
    return `/${rel}`;
  };
  let n = 0;
  for (const m of mounts) {
    switch (m.type) {
      case 'cache': {
        const dir = sources.cacheDir ? join(sources.cacheDir, createHash('sha256').update(m.id).digest('hex').slice(0, 32)) : join(scratch, `cache-${n++}`);
        mkdirSync(dir, { recursive: true, ...(m.mode !== undefined ? { mode: m.mode } : {}) });
        binds.push({ source: dir, target: mountpoint(m.target, true), readonly: false });
        break;
      }
      case 'tmpfs': {
        const dir = join(scratch, `tmpfs-${n++}`);
        mkdirSync(dir, { recursive: true });
        binds.push({ source: dir, target: mountpoint(m.target, true), readonly: false });
        break;
      }
      case 'bind': {
        const src = await sources.bindSource(m);
        const isDir = statSync(src).isDirectory();
        // A read-write bind's writes are thrown away, as BuildKit's: it gets a copy.
        binds.push({ source: src, target: mountpoint(m.target, isDir), readonly: !m.rw });
        break;
      }
      case 'secret': {
        const value = await sources.secret(m.id);
        if (value === undefined) {
          if (m.required) throw new OcimakeError('SECRET_MISSING', `RUN --mount=type=secret,id=${m.id} is required, and no --secret id=${m.id} was given`, { hint: `pass it: --secret id=${m.id},src=FILE or --secret id=${m.id},env=VARIABLE` });
          break;
        }
        if (m.env) env.set(m.env, value.toString('utf8'));
        if (m.target) {
          const file = join(scratch, `secret-${n++}`);
          writeFileSync(file, value, { mode: 0o400 });
          binds.push({ source: file, target: mountpoint(m.target, false), readonly: true });
        }
        break;
      }
      case 'ssh': {
        const sock = sources.sshSocket?.(m.id);
        if (sock === undefined) {
          if (m.required) throw new OcimakeError('SSH_MISSING', `RUN --mount=type=ssh,id=${m.id} is required, and no --ssh ${m.id} was given`, { hint: `pass the agent: --ssh ${m.id} (uses $SSH_AUTH_SOCK) or --ssh ${m.id}=/path/to/agent.sock` });
          break;
        }
        // The socket itself is bound (BuildKit forwards the agent; the RUN talks to it the same way).
        binds.push({ source: sock, target: mountpoint(m.target, false), readonly: false });
        if (!env.has('SSH_AUTH_SOCK')) env.set('SSH_AUTH_SOCK', `/${resolveInTree(root, posix.resolve(workdir || '/', m.target))}`);
        break;
      }
    }
  }
  return {
    binds, env, excluded,
    cleanup: () => {
      for (const p of made.reverse()) {
        try {
          const st = lstatSync(p);
          if (st.isDirectory()) rmdirSync(p); else unlinkSync(p);
        } catch { /* the RUN put something there: it stays out of the layer anyway */ }
      }
      for (let i = 0; i < n; i++) for (const k of ['secret', 'tmpfs']) rmSync(join(scratch, `${k}-${i}`), { recursive: true, force: true });
    },
  };
}
