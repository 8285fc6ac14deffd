import { work } from '../util/work.js';
import { posix } from 'node:path';
import { OcimakeError } from '../errors.js';
import type { ContainerConfig } from '../oci/schemas.js';
import type { Instruction } from '../dockerfile/instructions.js';
import { expandWord, expandWords, type VarMap } from '../dockerfile/shell-lex.js';
import { parseDuration } from './duration.js';

/** The result of a metadata instruction: the new container config and its history text. */
export interface ConfigEdit {
  config: ContainerConfig;
  createdBy: string;
  /** SHELL changes the shell used by later shell-form instructions. */
  shell?: string[];
  /** CMD sets this so that a later ENTRYPOINT in the same stage keeps it. */
  cmdSet?: boolean;
  /** MAINTAINER sets the image's `author`. */
  author?: string;
}

const SIGNALS = new Set(['SIGABRT', 'SIGALRM', 'SIGBUS', 'SIGCHLD', 'SIGCONT', 'SIGFPE', 'SIGHUP', 'SIGILL', 'SIGINT', 'SIGIO', 'SIGIOT', 'SIGKILL', 'SIGPIPE', 'SIGPOLL', 'SIGPROF', 'SIGPWR', 'SIGQUIT', 'SIGSEGV', 'SIGSTKFLT', 'SIGSTOP', 'SIGSYS', 'SIGTERM', 'SIGTRAP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGUSR1', 'SIGUSR2', 'SIGVTALRM', 'SIGWINCH', 'SIGXCPU', 'SIGXFSZ']);

/**
 * A container config that a run of metadata instructions may change in place: its lists
 * and maps are copies, so the image it came from is untouched. `envIndex` finds an Env
 * entry by name in O(1), so a thousand ENVs cost a thousand steps, not a million.
 */
export interface ConfigDraft {
  config: ContainerConfig;
  envIndex: Map<string, number>;
}

/** A draft over a copy of `prev` (one copy for a whole run of instructions). */
export function draftConfig(prev: ContainerConfig): ConfigDraft {
  work.configDrafts++;
  const config: ContainerConfig = { ...prev };
  if (prev.Env) config.Env = [...prev.Env];
  if (prev.Labels) config.Labels = { ...prev.Labels };
  if (prev.ExposedPorts) config.ExposedPorts = { ...prev.ExposedPorts };
  if (prev.Volumes) config.Volumes = { ...prev.Volumes };
  if (prev.OnBuild) config.OnBuild = [...prev.OnBuild];
  const envIndex = new Map<string, number>();
  (config.Env ?? []).forEach((e, i) => { const k = e.split('=')[0]!; if (!envIndex.has(k)) envIndex.set(k, i); });
  return { config, envIndex };
}

/** Sets `KEY=value` in the draft's Env: an existing KEY is replaced where it stands (as Docker does), else appended. */
function setEnv(d: ConfigDraft, key: string, value: string): void {
  const list = (d.config.Env ??= []);
  const i = d.envIndex.get(key);
  if (i !== undefined) list[i] = `${key}=${value}`;
  else { d.envIndex.set(key, list.length); list.push(`${key}=${value}`); }
}

/** A command line for CMD/ENTRYPOINT/HEALTHCHECK: exec form as is, shell form wrapped in the shell. */
function command(inst: { json: boolean; args: string[] }, shell: readonly string[]): string[] {
  return inst.json ? [...inst.args] : [...shell, inst.args.join(' ')];
}

function goList(a: readonly string[]): string {
  return `[${a.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/**
 * Applies a metadata instruction (ENV, LABEL, USER, EXPOSE, CMD, ENTRYPOINT, VOLUME,
 * STOPSIGNAL, HEALTHCHECK, SHELL, MAINTAINER, ONBUILD, and WORKDIR's config part) to a
 * draft config, in place, with Docker's rules: shell forms use the current SHELL,
 * ENTRYPOINT clears an inherited CMD, WORKDIR is resolved against the previous one.
 * ENV also updates `env`, so the next instruction of a run sees it.
 */
export function applyConfigInstruction(inst: Instruction, draft: ConfigDraft, env: Map<string, string>, ctx: { shell: readonly string[]; cmdSet: boolean; escape: string }): ConfigEdit {
  const c = draft.config;
  const ex = (s: string) => expandWord(s, env as VarMap, ctx.escape);
  switch (inst.kind) {
    case 'env': {
      const pairs = inst.pairs.map((p) => ({ key: ex(p.key), value: ex(p.value) }));
      for (const p of pairs) {
        if (p.key === '') throw new OcimakeError('DOCKERFILE_INVALID', 'ENV names can not be blank');
        setEnv(draft, p.key, p.value);
        env.set(p.key, p.value);
      }
      return { config: c, createdBy: `ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}` };
    }
    case 'label': {
      const pairs = inst.pairs.map((p) => ({ key: ex(p.key), value: ex(p.value) }));
      const labels = (c.Labels ??= {});
      for (const p of pairs) labels[p.key] = p.value;
      return { config: c, createdBy: `LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}` };
    }
    case 'workdir': {
      const dir = ex(inst.value);
      // As Docker and BuildKit: an absolute path is kept exactly as written (`/root/` stays
      // `/root/`); a relative one is joined onto the previous directory and cleaned.
      c.WorkingDir = dir.startsWith('/') ? dir : cleanPath(posix.join('/', c.WorkingDir || '/', dir));
      return { config: c, createdBy: `WORKDIR ${c.WorkingDir}` };
    }
    case 'user':
      c.User = ex(inst.value);
      return { config: c, createdBy: `USER ${c.User}` };
    case 'maintainer':
      return { config: c, createdBy: `MAINTAINER ${inst.value}`, author: inst.value };
    case 'expose': {
      const ports: string[] = [];
      for (const raw of inst.values.flatMap((v) => expandWords(v, env as VarMap, ctx.escape))) ports.push(...exposePorts(raw));
      const exposed = (c.ExposedPorts ??= {});
      for (const p of ports) exposed[p] = {};
      return { config: c, createdBy: `EXPOSE ${ports.join(' ')}` };
    }
    case 'volume': {
      const vols = inst.values.flatMap((v) => expandWords(v, env as VarMap, ctx.escape)).filter((v) => v !== '');
      if (vols.length === 0) throw new OcimakeError('DOCKERFILE_INVALID', 'VOLUME specified can not be an empty string');
      const volumes = (c.Volumes ??= {});
      for (const v of vols) volumes[v] = {};
      return { config: c, createdBy: `VOLUME ${goList(vols)}` };
    }
    case 'stopsignal': {
      const sig = ex(inst.value);
      const upper = sig.toUpperCase();
      if (!/^\d+$/.test(sig) && !SIGNALS.has(upper) && !SIGNALS.has(`SIG${upper}`) && !/^SIGRTM(IN|AX)([+-]\d+)?$/.test(upper)) {
        throw new OcimakeError('DOCKERFILE_INVALID', `invalid signal "${sig}" for STOPSIGNAL`, { hint: 'use a signal name such as SIGTERM or a number such as 15' });
      }
      c.StopSignal = sig;
      return { config: c, createdBy: `STOPSIGNAL ${sig}` };
    }
    case 'cmd': {
      c.Cmd = command(inst, ctx.shell);
      return { config: c, createdBy: `CMD ${goList(c.Cmd)}`, cmdSet: true };
    }
    case 'entrypoint': {
      c.Entrypoint = command(inst, ctx.shell);
      if (!ctx.cmdSet) c.Cmd = null;
      return { config: c, createdBy: `ENTRYPOINT ${goList(c.Entrypoint)}` };
    }
    case 'shell':
      if (inst.args.length === 0) throw new OcimakeError('DOCKERFILE_INVALID', 'SHELL requires at least one argument');
      c.Shell = [...inst.args];
      return { config: c, createdBy: `SHELL ${goList(inst.args)}`, shell: [...inst.args] };
    case 'healthcheck': {
      if (inst.none) {
        c.Healthcheck = { Test: ['NONE'] };
        return { config: c, createdBy: 'HEALTHCHECK NONE' };
      }
      if (inst.args.length === 0) throw new OcimakeError('DOCKERFILE_INVALID', 'HEALTHCHECK CMD requires a command');
      const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: inst.json ? ['CMD', ...inst.args] : ['CMD-SHELL', inst.args.join(' ')] };
      if (inst.interval !== undefined) hc.Interval = parseDuration(inst.interval, '--interval');
      if (inst.timeout !== undefined) hc.Timeout = parseDuration(inst.timeout, '--timeout');
      if (inst.startPeriod !== undefined) hc.StartPeriod = parseDuration(inst.startPeriod, '--start-period');
      if (inst.startInterval !== undefined) hc.StartInterval = parseDuration(inst.startInterval, '--start-interval');
      if (inst.retries !== undefined) {
        if (!/^\d+$/.test(inst.retries)) throw new OcimakeError('DOCKERFILE_INVALID', `invalid --retries "${inst.retries}"`, { hint: 'use a whole number' });
        hc.Retries = Number(inst.retries);
      }
      c.Healthcheck = hc;
      return { config: c, createdBy: `HEALTHCHECK &{${goList(hc.Test ?? [])}}` };
    }
    case 'onbuild':
      (c.OnBuild ??= []).push(inst.expression);
      return { config: c, createdBy: `ONBUILD ${inst.expression}` };
    default:
      throw new OcimakeError('INTERNAL', `${inst.kind} is not a metadata instruction`);
  }
}

/** Go's filepath.Clean for an absolute POSIX path: no `.`/`..`, no trailing slash but on `/`. */
function cleanPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** Expands an EXPOSE item: 80, 80/tcp, 53/udp, 8000-8002/tcp → port/proto keys. */
export function exposePorts(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw new OcimakeError('DOCKERFILE_INVALID', `invalid port "${spec}" for EXPOSE`, { hint: 'use PORT[/tcp|/udp|/sctp] or a range START-END[/proto]' });
  const lo = Number(m[1]);
  const hi = m[2] !== undefined ? Number(m[2]) : lo;
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (lo < 1 || hi > 65535 || hi < lo) throw new OcimakeError('DOCKERFILE_INVALID', `invalid port range "${spec}" for EXPOSE`);
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}
