import { OcimakeError } from '../errors.js';
import type { LayerCompression } from '../layer/tar-writer.js';

/** One `--output` target, as docker buildx spells it. */
export type OutputSpec =
  | { type: 'oci'; dest: string; tar: boolean; name?: string; compression?: LayerCompression }
  | { type: 'local'; dest: string }
  | { type: 'tar'; dest: string }
  | { type: 'docker'; dest: string; name?: string; compression?: LayerCompression }
  | { type: 'registry'; name?: string; compression?: LayerCompression };

/** Parses `type=oci,dest=DIR|FILE.tar`, `type=docker,dest=FILE.tar`, `type=local,dest=DIR` (or a bare `DIR`), `type=registry`, `type=image,push=true`. */
export function parseOutput(spec: string): OutputSpec {
  const kv = new Map<string, string>();
  for (const part of spec.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) {
      // `-o DIR` is buildx's local exporter; `-o -` streams the rootfs as a tar to stdout.
      if (!spec.includes('=')) return spec === '-' ? { type: 'tar', dest: '-' } : { type: 'local', dest: spec };
      throw new OcimakeError('OUTPUT_INVALID', `--output "${spec}": "${part}" is not key=value`, { hint: 'e.g. -o type=oci,dest=out' });
    }
    kv.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const type = kv.get('type');
  checkAttributes(spec, type, kv);
  const dest = kv.get('dest');
  const name = kv.get('name');
  const compression = compressionOf(spec, kv);
  const withName = <T extends object>(o: T) => ({ ...o, ...(name ? { name } : {}), ...(compression ? { compression } : {}) });
  switch (type) {
    case 'oci':
      if (!dest) throw new OcimakeError('OUTPUT_INVALID', '--output type=oci needs dest=DIR', { hint: 'e.g. -o type=oci,dest=./image' });
      // As in buildx, tar=true (or a dest ending in .tar) writes the layout as an archive.
      return withName({ type: 'oci', dest, tar: dest === '-' || kv.get('tar') === 'true' || (kv.get('tar') === undefined && dest.endsWith('.tar')) });
    case 'local':
      if (!dest) throw new OcimakeError('OUTPUT_INVALID', '--output type=local needs dest=DIR', { hint: 'e.g. -o type=local,dest=./rootfs' });
      // As buildx: a local export to stdout is a tar stream.
      return dest === '-' ? { type: 'tar', dest } : { type: 'local', dest };
    case 'tar':
      if (!dest) throw new OcimakeError('OUTPUT_INVALID', '--output type=tar needs dest=FILE (or dest=- for stdout)', { hint: 'e.g. -o type=tar,dest=rootfs.tar' });
      return { type: 'tar', dest };
    case 'docker':
      if (!dest) throw new OcimakeError('OUTPUT_INVALID', '--output type=docker needs dest=FILE.tar', { hint: 'e.g. -o type=docker,dest=image.tar, then docker load -i image.tar' });
      return withName({ type: 'docker', dest });
    case 'registry':
      return withName({ type: 'registry', ...(kv.get('push-by-digest') === 'true' ? { byDigest: true } : {}) });
    case 'image':
      // push-by-digest=true (a CI matrix: each runner pushes its platform untagged; imagetools create joins them).
      if (kv.get('push') === 'true') return withName({ type: 'registry', ...(kv.get('push-by-digest') === 'true' ? { byDigest: true } : {}) });
      throw new OcimakeError('OUTPUT_INVALID', '--output type=image needs push=true (there is no local image store)', { hint: 'use --push, or -o type=oci,dest=DIR' });
    default:
      throw new OcimakeError('OUTPUT_INVALID', `--output type "${type ?? ''}" is not supported`, { hint: 'supported: type=oci,dest=DIR|FILE.tar; type=docker,dest=FILE.tar; type=local,dest=DIR; type=tar,dest=FILE; type=registry; dest=- streams tar outputs to stdout' });
  }
}

/** What each output type takes, and the only values ocimake can honour where buildx has more. */
const ATTRIBUTES: Record<string, string[]> = {
  oci: ['type', 'dest', 'name', 'tar', 'compression', 'compression-level', 'oci-mediatypes'],
  docker: ['type', 'dest', 'name', 'compression', 'compression-level'],
  local: ['type', 'dest'],
  tar: ['type', 'dest'],
  registry: ['type', 'name', 'push', 'push-by-digest', 'name-canonical', 'compression', 'compression-level', 'oci-mediatypes'],
  image: ['type', 'name', 'push', 'push-by-digest', 'name-canonical', 'compression', 'compression-level', 'oci-mediatypes'],
};
const VALUES: Record<string, string[]> = { compression: ['gzip', 'zstd', 'uncompressed'], 'oci-mediatypes': ['true'], tar: ['true', 'false'], push: ['true', 'false'], 'push-by-digest': ['true', 'false'], 'name-canonical': ['true', 'false'] };

/** compression=gzip|zstd|uncompressed and compression-level=N, as buildx takes them (gzip 0-9, zstd 1-22). */
function compressionOf(spec: string, kv: Map<string, string>): LayerCompression | undefined {
  const algo = kv.get('compression') as LayerCompression['algo'] | undefined;
  const levelText = kv.get('compression-level');
  if (algo === undefined && levelText === undefined) return undefined;
  const a = algo ?? 'gzip';
  if (levelText === undefined) return { algo: a };
  const [lo, hi] = a === 'zstd' ? [1, 22] : a === 'gzip' ? [0, 9] : [0, 0];
  const level = Number(levelText);
  if (a === 'uncompressed' || !Number.isInteger(level) || level < lo || level > hi) {
    throw new OcimakeError('OUTPUT_INVALID', `--output "${spec}": compression-level=${levelText} is not valid for ${a}`, { hint: a === 'uncompressed' ? 'uncompressed layers take no level' : `${a} levels are ${lo} to ${hi}` });
  }
  return { algo: a, level };
}

/** Refuses an attribute the output type does not take, or a value ocimake would not honour: nothing is accepted and ignored. */
function checkAttributes(spec: string, type: string | undefined, kv: Map<string, string>): void {
  const allowed = type ? ATTRIBUTES[type] : undefined;
  if (!allowed) return; // the type itself is refused below
  for (const [k, v] of kv) {
    if (!allowed.includes(k)) {
      throw new OcimakeError('OUTPUT_INVALID', `--output "${spec}": type=${type} does not take "${k}"`, { hint: `type=${type} takes ${allowed.filter((a) => a !== 'type').join(', ')}` });
    }
    const values = VALUES[k];
    if (values && !values.includes(v)) {
      throw new OcimakeError('OUTPUT_INVALID', `--output "${spec}": ${k}=${v} is not supported`, { hint: `${k} can be ${values.join(' or ')}` });
    }
  }
}

/** Parses repeated KEY=VALUE flags (--build-arg, --label). A bare KEY takes its value from the environment. */
export function parseKeyValues(flag: string, items: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i === 0) throw new OcimakeError('FLAG_INVALID', `${flag} "${item}" has no name`, { hint: `use ${flag} NAME=VALUE` });
    if (i < 0) {
      // --build-arg NAME takes the value from the environment (skipped when unset); --label NAME is an empty label, as in docker.
      if (flag === '--label') { out[item] = ''; continue; }
      const v = env[item];
      if (v !== undefined) out[item] = v;
      continue;
    }
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}
