import { existsSync } from 'node:fs';
import { OcimakeError } from '../errors.js';
import type { Instruction } from '../dockerfile/instructions.js';
import { planDockerfile, type DockerfilePlan, type Stage } from '../dockerfile/stages.js';
import { hostPlatform } from '../oci/platform.js';
import type { Platform } from '../oci/schemas.js';
import { noBackend, probeBackend, type Backend, type Isolation, type Probe } from '../run/exec/isolation.js';
import type { precheckRun } from '../run/run.js';
import type { Command } from '../run/shell/state.js';
import { BUILD_COMMAND_NAMES } from '../run/commands/table.js';

// Before anything is pulled: which RUNs are interpreted (native) and which must be executed,
// and with what. A RUN that needs a program where no sandbox works (or --isolation native) is
// refused now, with the program, the line, the backends tried and why each is unavailable.

export interface RunPlan {
  /** The RUNs to execute (the interpreter cannot cover them). */
  executed: Set<Instruction>;
  /** The sandbox for them; none for --isolation native or where none works. */
  backend?: Backend;
  /** The sandbox for a native RUN found only at run time to need a program (probed then). */
  fallback: () => Backend | undefined;
}

/** Plans every RUN of the stages the build needs. */
export async function planRuns(file: string, stages: readonly Stage[], commands: ReadonlyMap<string, Command>, isolation: Isolation, platformOf: (stage: Stage) => Platform): Promise<RunPlan> {
  const executed = new Set<Instruction>();
  // Each stage's platform: a builder stage FROM --platform=$BUILDPLATFORM executes on the host in a cross build.
  const platforms = new Map<string, Platform>();
  // Probed only when a RUN needs a sandbox: most builds need none, and the probe costs a process.
  let probed: Probe | undefined;
  const sandbox = (): Probe | undefined => (isolation === 'native' ? undefined : (probed ??= probeBackend(isolation)));
  for (const stage of stages) {
    for (const inst of stage.instructions) {
      if (inst.kind !== 'run') continue;
      const program = await wouldRun(file, inst, commands, isolation);
      if (program === undefined) continue;
      if (!sandbox()?.backend) throw atLine(file, inst.line, noBackend(program, isolation, sandbox()));
      executed.add(inst);
      const p = platformOf(stage);
      platforms.set(`${p.os}/${p.architecture}`, p);
    }
  }
  for (const p of platforms.values()) checkPlatform(p);
  // A native RUN found at run time to need a program is executed too: the sandbox is known by then
  // only if one was probed here; auto probes it for that case once the plan is made.
  const backend = executed.size > 0 ? sandbox()?.backend : undefined;
  return { executed, ...(backend ? { backend } : {}), fallback: () => sandbox()?.backend };
}

/**
 * What executing the RUN would run, or undefined when the interpreter covers it (native has no
 * sandbox, so it is never asked). --isolation rootless|chroot executes every RUN (as buildah and
 * kaniko do); auto only what needs it. Other errors of the precheck are thrown.
 */
async function wouldRun(file: string, inst: Parameters<typeof precheckRun>[1], commands: ReadonlyMap<string, Command>, isolation: Isolation): Promise<string | undefined> {
  if (isolation === 'rootless' || isolation === 'chroot') return inst.args.join(' ').slice(0, 60);
  try {
    await (await import('../run/run.js')).precheckRun(file, inst, commands);
    return undefined;
  } catch (err) {
    const program = err instanceof OcimakeError && err.code === 'RUN_UNSUPPORTED' ? /would execute "([^"]*)"|(--mount=type=(?:bind|secret|ssh)) is not supported natively/.exec(err.message)?.slice(1).find(Boolean) : undefined;
    if (program === undefined) throw err;
    return program;
  }
}

export { BUILD_COMMAND_NAMES };

/**
 * True when some RUN of the Dockerfile would be executed under `isolation` (every RUN for
 * rootless and chroot; for auto, those the interpreter cannot cover). Asked before a build, to
 * know whether it needs the user namespace of the caller's subordinate ids (cli/reexec.ts).
 */
export async function dockerfileExecutes(text: string, file: string, isolation: Isolation): Promise<boolean> {
  if (isolation === 'native' || !/^\s*run\b/im.test(text)) return false;
  let plan: DockerfilePlan;
  try { plan = planDockerfile(text, file); } catch { return false; }
  const names = new Map<string, Command>(BUILD_COMMAND_NAMES.map((n) => [n, () => Promise.reject(new Error(`${n} is not run while planning`))]));
  for (const inst of plan.stages.flatMap((s) => s.instructions)) {
    if (inst.kind !== 'run') continue;
    // A RUN the precheck refuses otherwise fails the build, which says why.
    if ((await wouldRun(file, inst, names, isolation).catch(() => undefined)) !== undefined) return true;
  }
  return false;
}

/** Executing needs the RUN's platform to be the host's, or a binfmt_misc interpreter for it. */
function checkPlatform(platform: Platform): void {
  const host = hostPlatform();
  if (platform.architecture === host.architecture && platform.os === host.os) return;
  const qemu = ({ arm64: 'aarch64', amd64: 'x86_64', arm: 'arm', '386': 'i386', ppc64le: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[platform.architecture];
  if (qemu && existsSync(`/proc/sys/fs/binfmt_misc/qemu-${qemu}`)) return;
  throw new OcimakeError('PLATFORM_UNSUPPORTED', `RUN would execute programs for ${platform.os}/${platform.architecture} on a ${host.os}/${host.architecture} host, which has no binfmt_misc interpreter for them`, {
    hint: 'build the builder stage for the host (FROM --platform=$BUILDPLATFORM) and cross-compile with TARGETOS/TARGETARCH, or register qemu-user-static',
  });
}

function atLine(file: string, line: number, err: OcimakeError): OcimakeError {
  return new OcimakeError(err.code, `${file}:${line}: ${err.message}`, { ...(err.hint ? { hint: err.hint } : {}), cause: err, location: { file, line } });
}
