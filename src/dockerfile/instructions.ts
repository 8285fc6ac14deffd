import { OcimakeError, type ErrorCode } from '../errors.js';
import type { Heredoc, Node } from './parse.js';
import { modeOf } from '../util/file-mode.js';

// Typed Dockerfile instructions, made from parser nodes. Values are kept unexpanded:
// ARG/ENV expansion happens when a stage is built, with the variables in scope then.
// https://docs.docker.com/reference/dockerfile/

interface Base { line: number; endLine: number; original: string }

export type Instruction =
  | (Base & { kind: 'from'; image: string; name?: string; platform?: string })
  | (Base & { kind: 'copy' | 'add'; sources: string[]; dest: string; from?: string; chown?: string; chmod?: string; link: boolean; heredocs: Heredoc[]; checksum?: string; keepGitDir?: boolean; exclude: string[]; parents: boolean })
  | (Base & { kind: 'env' | 'label'; pairs: { key: string; value: string }[] })
  | (Base & { kind: 'arg'; args: { name: string; value?: string }[] })
  | (Base & { kind: 'workdir' | 'user' | 'stopsignal' | 'maintainer'; value: string })
  | (Base & { kind: 'expose' | 'volume'; values: string[] })
  | (Base & { kind: 'cmd' | 'entrypoint' | 'shell' | 'run'; json: boolean; args: string[]; heredocs: Heredoc[]; flags: string[] })
  | (Base & { kind: 'healthcheck'; none: boolean; json: boolean; args: string[]; interval?: string; timeout?: string; startPeriod?: string; startInterval?: string; retries?: string })
  | (Base & { kind: 'onbuild'; expression: string });

/** A parse-level error at a line of a Dockerfile, formatted `FILE:LINE: message`. */
export function lineError(file: string, line: number, message: string, hint?: string, code: ErrorCode = 'DOCKERFILE_INVALID'): OcimakeError {
  return new OcimakeError(code, `${file}:${line}: ${message}`, { ...(hint === undefined ? {} : { hint }), location: { file, line } });
}

/** Splits `--name=value` / `--name` flags and checks them against the allowed names. */
export function parseFlags(file: string, node: Node, allowed: readonly string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (const f of node.flags) {
    const m = /^--([A-Za-z0-9-]+)(?:=(.*))?$/s.exec(f);
    if (!m || !allowed.includes(m[1]!)) {
      throw lineError(file, node.startLine, `unknown flag ${f.split('=')[0]} for ${node.keyword.toUpperCase()}`, `${node.keyword.toUpperCase()} accepts ${allowed.map((a) => `--${a}`).join(', ') || 'no flags'}`);
    }
    out.set(m[1]!, m[2] ?? true);
  }
  return out;
}

function str(v: string | true | undefined): string | undefined {
  return v === true ? '' : v;
}

/** Converts a parser node into a typed instruction. */
export function toInstruction(node: Node, file: string): Instruction {
  const base: Base = { line: node.startLine, endLine: node.endLine, original: node.original };
  const k = node.keyword;
  const need = (n: number, what: string) => {
    if (node.args.length < n) throw lineError(file, node.startLine, `${k.toUpperCase()} requires ${what}`);
  };
  switch (k) {
    case 'from': {
      const flags = parseFlags(file, node, ['platform']);
      need(1, 'an image name');
      if (node.args.length !== 1 && !(node.args.length === 3 && node.args[1]!.toLowerCase() === 'as')) {
        throw lineError(file, node.startLine, 'FROM requires either one argument, or three: FROM <image> [AS <name>]');
      }
      const name = node.args[2]?.toLowerCase();
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw lineError(file, node.startLine, `invalid stage name "${node.args[2]}"`, 'stage names start with a letter and use letters, digits, -, _ and .');
      return { ...base, kind: 'from', image: node.args[0]!, ...(name ? { name } : {}), ...(flags.has('platform') ? { platform: str(flags.get('platform'))! } : {}) };
    }
    case 'copy':
    case 'add': {
      const allowed = k === 'copy' ? ['from', 'chown', 'chmod', 'link', 'parents', 'exclude'] : ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'];
      const flags = parseFlags(file, node, allowed);
      const heredocs = node.heredocs;
      if (node.args.length < 2 && heredocs.length === 0) throw lineError(file, node.startLine, `${k.toUpperCase()} requires at least two arguments: a source and a destination`);
      const dest = node.args[node.args.length - 1]!;
      const sources = node.args.slice(0, -1);
      const inst: Instruction = { ...base, kind: k, sources, dest, link: flags.has('link'), heredocs, exclude: node.flags.filter((f) => f.startsWith('--exclude=')).map((f) => f.slice(10)), parents: flags.has('parents') };
      if (flags.has('from')) inst.from = str(flags.get('from'))!;
      if (flags.has('chown')) inst.chown = str(flags.get('chown'))!;
      if (flags.has('chmod')) {
        inst.chmod = str(flags.get('chmod'))!;
        // Checked now (a variable's value only when it is known), so --check and the plan catch it before any step runs.
        if (!inst.chmod.includes('$') && !validChmod(inst.chmod)) {
          throw lineError(file, node.startLine, `invalid --chmod value "${inst.chmod}"`, 'use an octal mode (--chmod=755, --chmod=0644) or a symbolic one (--chmod=u=rwX,go=rX, --chmod=+x)', 'CHMOD_INVALID');
        }
      }
      if (flags.has('checksum')) inst.checksum = str(flags.get('checksum'))!;
      if (flags.has('keep-git-dir')) inst.keepGitDir = true;
      return inst;
    }
    case 'env':
    case 'label': {
      parseFlags(file, node, []);
      if (node.args.length === 0) throw lineError(file, node.startLine, `${k.toUpperCase()} requires at least one argument`);
      const pairs: { key: string; value: string }[] = [];
      for (let i = 0; i + 1 < node.args.length; i += 3) pairs.push({ key: node.args[i]!, value: node.args[i + 1]! });
      return { ...base, kind: k, pairs };
    }
    case 'arg': {
      parseFlags(file, node, []);
      need(1, 'at least one argument');
      const args = node.args.map((a) => {
        const i = a.indexOf('=');
        return i < 0 ? { name: a } : { name: a.slice(0, i), value: a.slice(i + 1) };
      });
      return { ...base, kind: 'arg', args };
    }
    case 'workdir':
    case 'user':
    case 'stopsignal':
    case 'maintainer':
      parseFlags(file, node, []);
      need(1, 'exactly one argument');
      return { ...base, kind: k, value: node.args.join(' ') };
    case 'expose':
    case 'volume':
      parseFlags(file, node, []);
      need(1, 'at least one argument');
      return { ...base, kind: k, values: node.args };
    case 'cmd':
    case 'entrypoint':
    case 'shell':
    case 'run':
      if (k !== 'run') parseFlags(file, node, []);
      if (k === 'shell' && !node.json) throw lineError(file, node.startLine, 'SHELL requires the arguments to be in JSON form', 'write it as SHELL ["/bin/sh", "-c"]');
      return { ...base, kind: k, json: node.json, args: node.args, heredocs: node.heredocs, flags: node.flags };
    case 'healthcheck': {
      const flags = parseFlags(file, node, ['interval', 'timeout', 'start-period', 'start-interval', 'retries']);
      need(1, 'CMD or NONE');
      const type = node.args[0]!.toUpperCase();
      if (type === 'NONE') {
        if (node.args.length > 1 || flags.size > 0) throw lineError(file, node.startLine, 'HEALTHCHECK NONE takes no other arguments');
        return { ...base, kind: 'healthcheck', none: true, json: false, args: [] };
      }
      if (type !== 'CMD') throw lineError(file, node.startLine, `unknown type "${node.args[0]}" in HEALTHCHECK (try CMD)`);
      const hc: Instruction = { ...base, kind: 'healthcheck', none: false, json: node.json, args: node.args.slice(1) };
      if (flags.has('interval')) hc.interval = str(flags.get('interval'));
      if (flags.has('timeout')) hc.timeout = str(flags.get('timeout'));
      if (flags.has('start-period')) hc.startPeriod = str(flags.get('start-period'));
      if (flags.has('start-interval')) hc.startInterval = str(flags.get('start-interval'));
      if (flags.has('retries')) hc.retries = str(flags.get('retries'));
      return hc;
    }
    case 'onbuild':
      return { ...base, kind: 'onbuild', expression: node.original.replace(/^\s*onbuild\s+/i, '') };
    default:
      throw lineError(file, node.startLine, `unknown instruction: ${k.toUpperCase()}`, 'see https://docs.docker.com/reference/dockerfile/ for the instructions a Dockerfile may use');
  }
}

/** An octal (`755`, `0644`, `0o755`) or symbolic (`u=rwX,go=rX`) mode, as COPY --chmod takes it. */
export function validChmod(spec: string): boolean {
  return /^(?:0o)?[0-7]{3,4}$/.test(spec) || (spec !== '' && modeOf(spec, 0o644, false, 0) !== undefined);
}
