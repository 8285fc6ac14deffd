import { OcimakeError } from '../errors.js';
import { parsePlatform, platformMatches } from '../oci/platform.js';
import type { Platform } from '../oci/schemas.js';

/** Where buildx's `--annotation [TYPE[,TYPE][[PLATFORM]]:]KEY=VALUE` puts an annotation. */
export type AnnotationTarget = 'manifest' | 'index' | 'manifest-descriptor' | 'index-descriptor';

export interface Annotation { targets: ReadonlySet<AnnotationTarget>; platforms?: readonly Platform[]; key: string; value: string }

const TARGETS: readonly AnnotationTarget[] = ['manifest', 'index', 'manifest-descriptor', 'index-descriptor'];

/** Parses one --annotation; the default target is the image manifest, as in buildx. */
export function parseAnnotation(arg: string): Annotation {
  let rest = arg;
  let types = 'manifest';
  let plats: string | undefined;
  const typed = /^([a-z-]+(?:,[a-z-]+)*)(?:\[([^\]]*)\])?:(.*)$/s.exec(arg);
  if (typed && !typed[1]!.includes('=')) {
    const unknown = typed[1]!.split(',').filter((t) => !(TARGETS as readonly string[]).includes(t));
    if (unknown.length) throw new OcimakeError('FLAG_INVALID', `--annotation ${arg}: "${unknown.join(',')}" is not an annotation type`, { hint: `types: ${TARGETS.join(', ')}` });
    [types, plats, rest] = [typed[1]!, typed[2], typed[3]!];
  }
  const eq = rest.indexOf('=');
  const key = eq > 0 ? rest.slice(0, eq).trim() : '';
  if (key === '') throw new OcimakeError('FLAG_INVALID', `--annotation ${arg}: expected [TYPE:]KEY=VALUE`, { hint: 'e.g. --annotation org.opencontainers.image.description="my app" or --annotation index:org.opencontainers.image.source=https://…' });
  const targets = new Set(types.split(',') as AnnotationTarget[]);
  if (targets.has('index-descriptor')) throw new OcimakeError('FLAG_UNSUPPORTED', `--annotation ${arg}: index-descriptor annotations are not supported`, { hint: 'use index: (on the index itself) or manifest-descriptor:' });
  const platforms = plats !== undefined && plats.trim() !== '' ? plats.split(',').map((p) => parsePlatform(p.trim())) : undefined;
  return { targets, ...(platforms ? { platforms } : {}), key, value: rest.slice(eq + 1) };
}

/** The annotations of `target` that apply to `platform` (all platforms when it is undefined). */
export function annotationsFor(list: readonly Annotation[], target: AnnotationTarget, platform?: Platform): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const a of list) {
    if (!a.targets.has(target)) continue;
    if (a.platforms && platform && !a.platforms.some((p) => platformMatches(platform, p))) continue;
    out[a.key] = a.value;
  }
  return Object.keys(out).length ? out : undefined;
}
