import { createHash } from 'node:crypto';
import { cpSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join, posix, sep } from 'node:path';
import { OcimakeError } from '../errors.js';
import type { RunMount } from '../run/flags.js';
import { parseRunFlags } from '../run/flags.js';
import type { MountSources } from '../run/exec/mounts.js';
import { extractPaths } from '../source/extract.js';
import type { BuildContext } from './context.js';
import type { MergedFs } from '../image/merged-fs.js';

// What an executed RUN's mounts read, for the sandbox (the sources) and for its step key: a bind
// of the context keys by what the context walk sees of its source (names, modes, owners, sizes,
// inodes, mtimes and ctimes, as a COPY's step key), a bind of a stage or image by that one's
// layers, a secret by its id only (never its value), a cache mount by its id (its content is
// the cache's, as BuildKit's).

/** A secret given with --secret: a file, or an environment variable. */
export type SecretSpec = { src: string } | { env: string };

export interface RunMountEnv {
  context: BuildContext;
  scratch: string;
  /** <cache dir>/run-cache, where cache mounts are kept by id; none without a cache dir. */
  cacheDir?: string;
  secrets?: ReadonlyMap<string, SecretSpec>;
  /** --ssh ID=SOCKET: SSH agent sockets by id. */
  ssh?: ReadonlyMap<string, string>;
  resolveFrom: (name: string) => Promise<{ fs: MergedFs; what: string; layers: readonly string[] }>;
}

/** The sources of a RUN's mounts. */
export function mountSources(env: RunMountEnv): MountSources {
  return {
    ...(env.cacheDir ? { cacheDir: env.cacheDir } : {}),
    bindSource: async (m) => {
      const rel = posix.normalize(`/${m.source}`).slice(1);
      if (m.from !== undefined) {
        const from = await env.resolveFrom(m.from);
        const dest = await mkdtemp(join(env.scratch, 'bind-'));
        await extractPaths(from.fs, [`/${rel}`], dest, env.scratch, from.what);
        return join(dest, rel);
      }
      const root = realpathSync(env.context.root);
      let path: string;
      try { path = realpathSync(join(root, rel)); } catch {
        throw new OcimakeError('RUN_MOUNT_INVALID', `RUN --mount=type=bind,source=${m.source}: no such path in the build context`, { hint: 'the source of a bind mount is relative to the context (or to the stage named by from=)' });
      }
      if (path !== root && !path.startsWith(`${root}${sep}`)) throw new OcimakeError('RUN_MOUNT_INVALID', `RUN --mount=type=bind,source=${m.source} leads out of the build context`, { hint: 'bind only paths inside the context' });
      if (!m.rw) return path;
      // Read-write: the RUN may write, and its writes are thrown away (as BuildKit's), so it gets a copy.
      const copy = join(await mkdtemp(join(env.scratch, 'bind-')), 'src');
      cpSync(path, copy, { recursive: true, verbatimSymlinks: true });
      return copy;
    },
    sshSocket: (id) => env.ssh?.get(id),
    secret: async (id) => {
      const s = env.secrets?.get(id);
      if (!s) return undefined;
      if ('env' in s) return process.env[s.env] === undefined ? undefined : Buffer.from(process.env[s.env]!);
      return readFile(s.src);
    },
  };
}

/** What a RUN's mounts add to its step key (see above). */
export async function mountKeys(flags: readonly string[], env: RunMountEnv): Promise<string[]> {
  let mounts: RunMount[];
  try { mounts = parseRunFlags(flags, true).mounts; } catch { return []; }
  const out: string[] = [];
  for (const m of mounts) {
    if (m.type !== 'bind') continue;
    const rel = posix.normalize(`/${m.source}`).slice(1);
    if (m.from !== undefined) { out.push(`bind from ${m.from} ${JSON.stringify((await env.resolveFrom(m.from)).layers)}`); continue; }
    const h = createHash('sha256');
    for (const c of await env.context.resolveSource(rel === '' ? '.' : rel)) {
      const add = (x: typeof c) => { const s = x.stat; h.update(`${JSON.stringify(x.rel)}\t${s.mode}\t${s.uid}\t${s.gid}\t${s.size}\t${s.dev}\t${s.ino}\t${s.mtimeMs}\t${s.ctimeMs}\n`); };
      add(c);
      if (c.stat.isDirectory()) for (const d of await env.context.walk(c.rel, true)) add(d);
    }
    out.push(`bind ${rel} ${h.digest('hex')}`);
  }
  return out;
}

/** Parses buildx's --secret: id=ID,src=FILE | id=ID,env=VAR (type=file|env optional). */
export function parseSecret(spec: string): [string, SecretSpec] {
  const kv = new Map(spec.split(',').map((p) => { const i = p.indexOf('='); return i < 0 ? [p, ''] as const : [p.slice(0, i), p.slice(i + 1)] as const; }));
  const id = kv.get('id');
  const src = kv.get('src') ?? kv.get('source');
  const envName = kv.get('env');
  if (!id || (src === undefined && envName === undefined && kv.get('type') !== 'env')) {
    throw new OcimakeError('FLAG_INVALID', `--secret ${spec.replace(/=[^,]*/g, '=…')} needs id= and src=FILE or env=VARIABLE`, { hint: 'e.g. --secret id=npmrc,src=$HOME/.npmrc or --secret id=token,env=GITHUB_TOKEN' });
  }
  return [id, src !== undefined ? { src } : { env: envName ?? id }];
}

/**
 * Parses buildx's --ssh: `default` or `ID` (the agent at $SSH_AUTH_SOCK), or `ID=SOCKET`. Key files
 * (which buildx loads into an agent of its own) are refused with the way to do it with ssh-agent.
 */
export function parseSsh(spec: string, env: NodeJS.ProcessEnv = process.env): [string, string] {
  const i = spec.indexOf('=');
  const id = i < 0 ? spec : spec.slice(0, i);
  const paths = i < 0 ? [] : spec.slice(i + 1).split(',').filter(Boolean);
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new OcimakeError('FLAG_INVALID', `--ssh ${spec}: "${id}" is not an id`, { hint: 'use --ssh default, --ssh ID, or --ssh ID=/path/to/agent.sock' });
  if (paths.length > 1) throw new OcimakeError('FLAG_INVALID', `--ssh ${spec}: one agent socket per id`, { hint: 'load the keys into one agent (ssh-add KEY…) and pass its socket' });
  const path = paths[0] ?? env.SSH_AUTH_SOCK;
  if (!path) throw new OcimakeError('FLAG_INVALID', `--ssh ${spec}: no agent socket given and SSH_AUTH_SOCK is not set`, { hint: 'start an agent (eval "$(ssh-agent)"; ssh-add), or pass --ssh ID=/path/to/agent.sock' });
  let st;
  try { st = statSync(path); } catch { throw new OcimakeError('FLAG_INVALID', `--ssh ${spec}: ${path} does not exist`, { hint: 'pass the socket of a running ssh-agent (its SSH_AUTH_SOCK)' }); }
  if (!st.isSocket()) throw new OcimakeError('FLAG_INVALID', `--ssh ${spec}: ${path} is not an agent socket (a key file?)`, { hint: `load the key into an agent and pass the agent: eval "$(ssh-agent)"; ssh-add ${path}; --ssh ${id}` });
  return [id, path];
}
