import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OcimakeError } from '../errors.js';
import { DOCKER_HUB } from '../oci/reference.js';

// Registry mirrors for pulls, from what users already configure:
//   --registry-mirror REGISTRY=MIRROR            (ocimake's flag, repeatable; first)
//   containers' registries.conf (v2)             ([[registry]] location or prefix, [[registry.mirror]] location, insecure)
//     $CONTAINERS_REGISTRIES_CONF, else ~/.config/containers/registries.conf, else /etc/containers/registries.conf
//     (the first that exists, as buildah, podman and skopeo read it)
//   BuildKit's buildkitd.toml                    ([registry."docker.io"] mirrors = [...], http/insecure)
//     ~/.config/buildkit/buildkitd.toml, else /etc/buildkit/buildkitd.toml
// A mirror is `host[:port][/path]`: the image's repository goes under the path. Each mirror is
// tried in turn, then the registry itself (containers and BuildKit do the same).

export interface Mirror { host: string; prefix: string; insecure: boolean; from: string }

/** The mirrors of each registry (docker.io for Docker Hub). */
export type Mirrors = ReadonlyMap<string, readonly Mirror[]>;

const norm = (r: string) => (r === 'index.docker.io' || r === 'registry-1.docker.io' ? DOCKER_HUB : r.replace(/\/+$/, ''));

function mirrorOf(location: string, insecure: boolean, from: string): Mirror {
  const loc = location.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  const i = loc.indexOf('/');
  return { host: i < 0 ? loc : loc.slice(0, i), prefix: i < 0 ? '' : loc.slice(i + 1), insecure, from };
}

/** --registry-mirror REGISTRY=MIRROR. */
export function parseMirrorFlag(v: string): [string, Mirror] {
  const m = /^([^=\s]+)=([^=\s]+)$/.exec(v);
  if (!m) throw new OcimakeError('FLAG_INVALID', `--registry-mirror ${v}: not REGISTRY=MIRROR`, { hint: 'e.g. --registry-mirror docker.io=mirror.local:5000 (or =mirror.local:5000/dockerhub for a path)' });
  return [norm(m[1]!), mirrorOf(m[2]!, false, '--registry-mirror')];
}

const warned = new Set<string>();

/** A config file's TOML; one that cannot be parsed is passed over with a warning (it is not ocimake's own). */
function readToml(path: string): Record<string, unknown> | undefined {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { return undefined; }
  try {
    // Loaded only when a config file is there: every command reads its network flags at start.
    const { parse } = createRequire(import.meta.url)('smol-toml') as typeof import('smol-toml');
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    if (!warned.has(path)) { warned.add(path); process.stderr.write(`warning: ${path} is not valid TOML (${(err as Error).message.split('\n')[0]}); its registry mirrors are not used\n`); }
    return undefined;
  }
}

/** Mirrors from registries.conf (v2 tables). */
function fromRegistriesConf(env: NodeJS.ProcessEnv): [string, Mirror][] {
  const home = env.HOME ?? homedir();
  const candidates = env.CONTAINERS_REGISTRIES_CONF ? [env.CONTAINERS_REGISTRIES_CONF] : [join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers', 'registries.conf'), '/etc/containers/registries.conf'];
  for (const path of candidates) {
    const conf = readToml(path);
    if (!conf) continue;
    const out: [string, Mirror][] = [];
    for (const r of Array.isArray(conf.registry) ? conf.registry as Record<string, unknown>[] : []) {
      const registry = typeof r.prefix === 'string' ? r.prefix : typeof r.location === 'string' ? r.location : undefined;
      if (!registry) continue;
      for (const m of Array.isArray(r.mirror) ? r.mirror as Record<string, unknown>[] : []) {
        if (typeof m.location === 'string' && m['pull-from-mirror'] !== 'digest-only') out.push([norm(registry), mirrorOf(m.location, m.insecure === true, path)]);
      }
    }
    return out;
  }
  return [];
}

/** Mirrors from buildkitd.toml ([registry."docker.io"] mirrors, with http/insecure per mirror host). */
function fromBuildkitd(env: NodeJS.ProcessEnv): [string, Mirror][] {
  const home = env.HOME ?? homedir();
  for (const path of [join(env.XDG_CONFIG_HOME || join(home, '.config'), 'buildkit', 'buildkitd.toml'), '/etc/buildkit/buildkitd.toml']) {
    const conf = readToml(path);
    if (!conf) continue;
    const regs = (conf.registry ?? {}) as Record<string, Record<string, unknown>>;
    const out: [string, Mirror][] = [];
    for (const [registry, r] of Object.entries(regs)) {
      for (const loc of Array.isArray(r.mirrors) ? r.mirrors as unknown[] : []) {
        if (typeof loc !== 'string') continue;
        const host = mirrorOf(loc, false, path).host;
        const own = regs[host] ?? {};
        out.push([norm(registry), mirrorOf(loc, own.http === true || own.insecure === true, path)]);
      }
    }
    return out;
  }
  return [];
}

/** Every mirror, flags first, then registries.conf, then buildkitd.toml; each once. */
export function loadMirrors(flags: readonly string[], env: NodeJS.ProcessEnv = process.env): Mirrors {
  const out = new Map<string, Mirror[]>();
  for (const [registry, m] of [...flags.map(parseMirrorFlag), ...fromRegistriesConf(env), ...fromBuildkitd(env)]) {
    const list = out.get(registry) ?? [];
    if (!list.some((x) => x.host === m.host && x.prefix === m.prefix)) list.push(m);
    out.set(registry, list);
  }
  return out;
}
