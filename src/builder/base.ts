import { OcimakeError } from '../errors.js';
import type { Image } from '../image/image.js';
import type { OpenedImage } from '../source/open.js';
import { lineError } from '../dockerfile/instructions.js';
import { expandWord } from '../dockerfile/shell-lex.js';
import type { DockerfilePlan, Stage } from '../dockerfile/stages.js';
import { formatPlatform, parsePlatform, platformMatches } from '../oci/platform.js';
import type { Platform } from '../oci/schemas.js';
import { MergedFs } from '../image/merged-fs.js';
import { formatReference } from '../oci/reference.js';
import type { StageState } from './stage.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The stage a FROM or COPY --from names (by name or index), among the stages before `before`. */
export function stageRef(plan: DockerfilePlan, name: string, before: number): Stage | undefined {
  const lower = name.toLowerCase();
  return plan.stages.find((st) => st.index < before && (st.name === lower || String(st.index) === name));
}

export interface BaseInputs {
  plan: DockerfilePlan;
  stage: Stage;
  results: ReadonlyMap<number, StageState>;
  globalArgs: ReadonlyMap<string, string>;
  platform: Platform;
  created: string;
  /** Opens an image by name (a --build-context of that name first). */
  open: (name: string, platform: Platform) => Promise<OpenedImage>;
}

/**
 * The starting state of a stage: `scratch` (an empty linux image with Docker's default
 * PATH), an earlier stage, or an image (registry, oci:DIR, docker-archive:FILE) whose
 * config is inherited with Docker's rules and whose layers pass through unchanged.
 */
export async function baseState(inp: BaseInputs): Promise<StageState> {
  const { plan, stage, globalArgs, created } = inp;
  const name = expandWord(stage.from.image, globalArgs, plan.escape);
  if (name === '') throw lineError(plan.file, stage.from.line, `FROM "${stage.from.image}" expands to an empty image name`, 'set the ARG it uses with --build-arg or give it a default');
  const platform = stage.from.platform ? parsePlatform(expandWord(stage.from.platform, globalArgs, plan.escape)) : inp.platform;
  const ref = stageRef(plan, name, stage.index);
  if (ref) {
    // As BuildKit: the stage's ARGs carry over, its ONBUILD triggers do not.
    const prev = inp.results.get(ref.index)!;
    const config = { ...(prev.image.config.config ?? {}) };
    delete config.OnBuild;
    return { ...prev, image: { ...prev.image, config: { ...prev.image.config, config } }, args: new Map(prev.args), cmdSet: false };
  }
  if (name.toLowerCase() === 'scratch') {
    const image: Image = {
      config: { created, architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}), config: { Env: [DEFAULT_PATH] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] },
      layers: [],
    };
    return { image, fs: new MergedFs(image, 'the stage'), args: new Map(), cmdSet: false, shell: ['/bin/sh', '-c'] };
  }
  let opened;
  try {
    opened = await inp.open(name, platform);
  } catch (err) {
    const e = err instanceof OcimakeError ? err : new OcimakeError('INTERNAL', String(err));
    const at = lineError(plan.file, stage.from.line, `FROM ${name}: ${e.message}`, e.hint ?? 'check the image name and that the registry is reachable', e.code);
    // The place in the Dockerfile, and the image it names.
    throw new OcimakeError(at.code, at.message, { ...(at.hint ? { hint: at.hint } : {}), cause: e, ...(at.location ? { location: at.location } : {}) });
  }
  const base = opened.image;
  const has = { os: base.config.os, architecture: base.config.architecture, ...(base.config.variant ? { variant: base.config.variant } : {}) };
  if (has.os && has.architecture && !platformMatches(has, platform)) {
    // As BuildKit: a base without the requested platform is refused, not silently used.
    throw lineError(plan.file, stage.from.line, `FROM ${name}: the image is ${formatPlatform(has)}, not ${formatPlatform(platform)}`,
      `build for ${formatPlatform(has)} (--platform ${formatPlatform(has)}), or use a base image published for ${formatPlatform(platform)}`, 'PLATFORM_MISMATCH');
  }
  const onbuild = base.config.config?.OnBuild ?? [];
  if (onbuild.length > 0) {
    throw lineError(plan.file, stage.from.line, `FROM ${name}: the base image has ONBUILD triggers (${onbuild.join('; ')}), which ocimake does not run`, 'use a base image without ONBUILD triggers, or write the triggered steps into this Dockerfile', 'UNSUPPORTED_INSTRUCTION');
  }
  const config = { ...(base.config.config ?? {}) };
  // As BuildKit: a base without PATH gets the default one, appended.
  if (!config.Env?.some((e) => e.startsWith('PATH='))) config.Env = [...(config.Env ?? []), DEFAULT_PATH];
  const image: Image = {
    config: { ...base.config, created, config, history: [...(base.config.history ?? [])], rootfs: { type: 'layers', diff_ids: [...base.config.rootfs.diff_ids] } },
    layers: opened.ref ? base.layers.map((l) => ({ ...l, origin: { registry: opened.ref!.registry, repository: opened.ref!.repository } })) : base.layers,
  };
  const resolved = `${opened.ref ? formatReference({ ...opened.ref, digest: undefined }) : opened.what}@${opened.top?.digest ?? opened.digest}`;
  return { image, fs: new MergedFs(image, opened.what), args: new Map(), cmdSet: false, shell: config.Shell ?? ['/bin/sh', '-c'], baseName: resolved, ...(opened.ref ? { baseRef: opened.ref } : {}) };
}
