import { OcimakeError } from '../errors.js';
import { expandWord } from '../dockerfile/shell-lex.js';
import type { DockerfilePlan, Stage } from '../dockerfile/stages.js';
import { argPlatform, formatPlatform, hostPlatform, parsePlatform } from '../oci/platform.js';
import type { Platform } from '../oci/schemas.js';
import { stageRef } from './base.js';

// The build's planner: what the Dockerfile asks for, before anything runs or is fetched. The
// global ARGs (with BuildKit's platform ARGs), the target, the stages it needs and what each
// depends on (FROM <stage>, COPY --from=<stage>), each stage's platform, and the images to
// open. The scheduler (schedule.ts) runs the stages from it; the ops get their environment
// from build-env.ts.

export interface BuildGraph {
  plan: DockerfilePlan;
  globalArgs: Map<string, string>;
  target: Stage;
  /** The stages the target needs, by index (the target included). */
  needed: Set<number>;
  /** The stages a stage must wait for. */
  deps: (stage: Stage) => Stage[];
  /** The stage's platform: its FROM --platform, else the build's. */
  platformOf: (stage: Stage) => Platform;
  /** The images the needed stages start FROM (not scratch, not a stage), with their platform: opened as soon as the build starts. */
  bases: { name: string; platform: Platform }[];
}

/** Plans a build of `target` (default the last stage) for `platform`. */
export function planBuild(plan: DockerfilePlan, buildArgs: ReadonlyMap<string, string>, platform: Platform, targetName: string | undefined): BuildGraph {
  const globalArgs = evalGlobalArgs(plan, buildArgs, platform);
  const target = pickTarget(plan, targetName);
  const deps = (s: Stage) => stageDeps(plan, s, globalArgs);
  const needed = neededStages(target, deps);
  const platformOf = (s: Stage): Platform => (s.from.platform ? parsePlatform(expandWord(s.from.platform, globalArgs, plan.escape)) : platform);
  const bases: BuildGraph['bases'] = [];
  for (const s of plan.stages) {
    if (!needed.has(s.index)) continue;
    const name = expandWord(s.from.image, globalArgs, plan.escape);
    if (name === '' || name.toLowerCase() === 'scratch' || stageRef(plan, name, s.index)) continue;
    let p: Platform;
    try { p = platformOf(s); } catch { continue; /* the stage says why when it runs */ }
    bases.push({ name, platform: p });
  }
  return { plan, globalArgs, target, needed, deps, platformOf, bases };
}

export const BUILTIN_ARGS = new Set(['TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT', 'BUILDPLATFORM', 'BUILDOS', 'BUILDARCH', 'BUILDVARIANT', 'HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'ftp_proxy', 'no_proxy', 'all_proxy', 'SOURCE_DATE_EPOCH']);

/** Evaluates the ARGs before the first FROM, with BuildKit's automatic platform ARGs. */
function evalGlobalArgs(plan: DockerfilePlan, buildArgs: ReadonlyMap<string, string>, platform: Platform): Map<string, string> {
  const host = hostPlatform();
  const vars = new Map<string, string>([
    ['TARGETPLATFORM', formatPlatform(argPlatform(platform))], ['TARGETOS', platform.os], ['TARGETARCH', platform.architecture], ['TARGETVARIANT', argPlatform(platform).variant ?? ''],
    ['BUILDPLATFORM', formatPlatform(argPlatform(host))], ['BUILDOS', host.os], ['BUILDARCH', host.architecture], ['BUILDVARIANT', argPlatform(host).variant ?? ''],
  ]);
  for (const inst of plan.globalArgs) {
    for (const a of inst.args) {
      const v = buildArgs.get(a.name) ?? (a.value !== undefined ? expandWord(a.value, vars, plan.escape) : undefined);
      if (v !== undefined) vars.set(a.name, v);
    }
  }
  return vars;
}

function pickTarget(plan: DockerfilePlan, target: string | undefined): Stage {
  if (target === undefined) return plan.stages[plan.stages.length - 1]!;
  const t = plan.stages.find((s) => s.name === target.toLowerCase());
  if (!t) {
    const names = plan.stages.map((s) => s.name).filter(Boolean);
    throw new OcimakeError('TARGET_NOT_FOUND', `target stage "${target}" could not be found`, { hint: names.length ? `stages in ${plan.file}: ${names.join(', ')}` : `${plan.file} has no named stages (FROM image AS name)` });
  }
  return t;
}

/** The stages the target depends on (FROM <stage>, COPY --from=<stage>), the target included. */
function stageDeps(plan: DockerfilePlan, s: Stage, globalArgs: ReadonlyMap<string, string>): Stage[] {
  const deps: Stage[] = [];
  const base = stageRef(plan, expandWord(s.from.image, globalArgs, plan.escape), s.index);
  if (base) deps.push(base);
  for (const inst of s.instructions) {
    if ((inst.kind === 'copy' || inst.kind === 'add') && inst.from !== undefined) {
      const dep = stageRef(plan, inst.from, s.index);
      if (dep) deps.push(dep);
    }
  }
  return deps;
}

function neededStages(target: Stage, deps: (s: Stage) => Stage[]): Set<number> {
  const out = new Set<number>();
  const visit = (s: Stage) => {
    if (out.has(s.index)) return;
    out.add(s.index);
    for (const d of deps(s)) visit(d);
  };
  visit(target);
  return out;
}
