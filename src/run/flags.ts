import { OcimakeError } from '../errors.js';

// RUN's flags, as BuildKit spells them. The interpreter takes cache and tmpfs mounts (an empty
// directory kept out of the layer) and --network (nothing it runs reaches a network it was not
// told of) and bind mounts (the build context, or another stage or image with from=, laid into
// its view); an executed RUN also takes secret and ssh mounts (buildx's --secret, --ssh), which
// the interpreter refuses: a secret must never reach a layer, and it cannot hold a socket.

/** One --mount of a RUN. `target` is as written (relative to WORKDIR when not absolute). */
export type RunMount =
  | { type: 'cache'; target: string; id: string; mode?: number; uid?: number; gid?: number }
  | { type: 'tmpfs'; target: string }
  | { type: 'bind'; target: string; source: string; from?: string; rw: boolean }
  | { type: 'secret'; target: string; id: string; env?: string; required: boolean }
  | { type: 'ssh'; target: string; id: string; required: boolean };

/** The networks a RUN can have (RUN --network=…, and the build's --network): buildx's. */
export type NetworkMode = 'default' | 'none' | 'host';

/** Is `v` a network mode? */
export const isNetworkMode = (v: string): v is NetworkMode => v === 'default' || v === 'none' || v === 'host';

export interface RunFlags {
  mounts: RunMount[];
  /** Targets of cache and tmpfs mounts (what the interpreter keeps out of the layer). */
  cacheTargets: string[];
  /** The bind mounts (the interpreter lays them into the RUN's view). */
  binds: Extract<RunMount, { type: 'bind' }>[];
  /** --network: none gives an executed RUN a network namespace of its own, with only loopback. */
  network: NetworkMode;
}

const bool = (v: string | undefined) => v === undefined || v === '' || v === 'true';

/** Parses RUN's flags; `executed` accepts the mounts only an executed RUN can have. */
export function parseRunFlags(flags: readonly string[], executed = false): RunFlags {
  const mounts: RunMount[] = [];
  let network: RunFlags['network'] = 'default';
  for (const f of flags) {
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(f);
    const name = m?.[1];
    if (name === 'security') continue;
    if (name === 'network') {
      const v = m![2] ?? '';
      if (!isNetworkMode(v)) throw new OcimakeError('RUN_UNSUPPORTED', `RUN --network=${v} is not known`, { hint: 'use --network=default, none or host' });
      network = v;
      continue;
    }
    if (name !== 'mount') throw new OcimakeError('RUN_UNSUPPORTED', `RUN ${f.split('=')[0]} is not supported`, { hint: 'RUN accepts --mount (cache, tmpfs, bind, secret, ssh) and --network' });
    const kv = new Map((m![2] ?? '').split(',').map((p) => { const i = p.indexOf('='); return i < 0 ? [p, ''] as const : [p.slice(0, i), p.slice(i + 1)] as const; }));
    const type = kv.get('type') ?? 'bind';
    const target = kv.get('target') ?? kv.get('dst') ?? kv.get('destination');
    const num = (k: string) => (kv.get(k) !== undefined ? Number.parseInt(kv.get(k)!, k === 'mode' ? 8 : 10) : undefined);
    if (type === 'cache' || type === 'tmpfs') {
      if (!target) throw new OcimakeError('RUN_UNSUPPORTED', `RUN --mount=type=${type} needs a target`, { hint: 'e.g. --mount=type=cache,target=/var/cache/apk' });
      if (type === 'tmpfs') mounts.push({ type, target });
      else mounts.push({ type, target, id: kv.get('id') || target, ...withDefined({ mode: num('mode'), uid: num('uid'), gid: num('gid') }) });
      continue;
    }
    if (!executed && (type === 'secret' || type === 'ssh')) {
      throw new OcimakeError('RUN_UNSUPPORTED', `RUN --mount=type=${type} is not supported natively`, { hint: 'an executed RUN takes it: use --isolation auto, rootless or chroot, or COPY what the command needs instead' });
    }
    if (type === 'bind') {
      if (!target) throw new OcimakeError('RUN_UNSUPPORTED', 'RUN --mount=type=bind needs a target', { hint: 'e.g. --mount=type=bind,source=go.mod,target=/src/go.mod' });
      mounts.push({ type, target, source: kv.get('source') ?? kv.get('src') ?? '.', ...(kv.get('from') ? { from: kv.get('from')! } : {}), rw: bool(kv.get('rw') ?? kv.get('readwrite') ?? 'false') });
      continue;
    }
    if (type === 'secret') {
      const id = kv.get('id') ?? (target ? target.split('/').pop()! : '');
      if (!id) throw new OcimakeError('RUN_UNSUPPORTED', 'RUN --mount=type=secret needs an id', { hint: 'e.g. --mount=type=secret,id=npmrc,target=/root/.npmrc, with --secret id=npmrc,src=$HOME/.npmrc' });
      mounts.push({ type, id, target: target ?? (kv.get('env') ? '' : `/run/secrets/${id}`), ...(kv.get('env') ? { env: kv.get('env')! } : {}), required: bool(kv.get('required') ?? 'false') });
      continue;
    }
    if (type === 'ssh') {
      // BuildKit's: the agent socket named by id (default "default") at target, SSH_AUTH_SOCK set to it.
      const n = mounts.filter((x) => x.type === 'ssh').length;
      mounts.push({ type, id: kv.get('id') || 'default', target: target ?? `/run/buildkit/ssh_agent.${n}`, required: bool(kv.get('required') ?? 'false') });
      continue;
    }
    throw new OcimakeError('RUN_UNSUPPORTED', `RUN --mount=type=${type} is not supported`, { hint: 'RUN takes --mount=type=cache, tmpfs, bind, secret and ssh' });
  }
  return { mounts, network, cacheTargets: mounts.flatMap((m) => (m.type === 'cache' || m.type === 'tmpfs' ? [m.target] : [])), binds: mounts.flatMap((m) => (m.type === 'bind' ? [m] : [])) };
}

function withDefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !Number.isNaN(v))) as { [K in keyof T]: Exclude<T[K], undefined> };
}
