import { release, version } from 'node:os';
import type { Platform } from '../../oci/schemas.js';
import { RunError } from '../errors.js';
import type { Command, ShellState } from '../shell/state.js';
import { parseOpts } from './opts.js';

// uname and xargs, natively. uname answers for the platform being built (as `docker build
// --platform` runs the image's programs under emulation): download URLs written with
// $(uname -m) fetch the target's binary. The kernel release and version are the host's, as
// in a container; the node name is BuildKit's.
// xargs runs a native command over its input's words (busybox: -n, -r, -I, -0, -t).

/** uname -m for an OCI platform. */
export function machineOf(p: Platform): string {
  const v = p.variant ?? '';
  switch (p.architecture) {
    case 'amd64': return 'x86_64';
    case 'arm64': return 'aarch64';
    case 'arm': return v === 'v6' ? 'armv6l' : v === 'v5' ? 'armv5tel' : 'armv7l';
    case '386': return 'i686';
    default: return p.architecture; // ppc64le, s390x, riscv64 name themselves
  }
}

export function unameCommand(platform: Platform): Command {
  return async (args, io) => {
    const o = parseOpts('uname', args, 'asnrvmpio', { all: 'a', 'kernel-name': 's', nodename: 'n', 'kernel-release': 'r', 'kernel-version': 'v', machine: 'm', processor: 'p', 'hardware-platform': 'i', 'operating-system': 'o' });
    const m = machineOf(platform);
    const fields: [string, string][] = [['s', 'Linux'], ['n', 'buildkitsandbox'], ['r', release()], ['v', version()], ['m', m], ['p', 'unknown'], ['i', 'unknown'], ['o', 'Linux']];
    const all = o.flags.has('a');
    const picked = fields.filter(([k]) => (all ? k !== 'p' && k !== 'i' : o.flags.has(k)));
    io.out(`${(picked.length > 0 ? picked : [fields[0]!]).map(([, v]) => v).join(' ')}\n`);
    return 0;
  };
}

/** The native command `name` that `by` (xargs, env) runs, or exit 127 as the real one would. */
export function nativeCommand(sh: ShellState, name: string, by: string): Command {
  const cmd = sh.commands.get(name);
  if (!cmd) throw new RunError(`${name}: not found (${by} runs the commands RUN runs natively)`, 127);
  return cmd;
}

export const xargsCommand: Command = async (args, io, sh) => {
  // Options end at the first operand: the rest is the command.
  let k = 0;
  const opts: string[] = [];
  while (k < args.length && args[k]!.startsWith('-') && args[k] !== '--') {
    opts.push(args[k]!);
    if (/^-[nIsEdPL]$/.test(args[k]!)) opts.push(args[++k] ?? '');
    k++;
  }
  if (args[k] === '--') k++;
  const o = parseOpts('xargs', opts, 'n:I:rt0s:E:d:P:L:', { 'no-run-if-empty': 'r', 'max-args': 'n', null: '0', verbose: 't', 'max-procs': 'P' });
  const argv = args.slice(k).length > 0 ? args.slice(k) : ['echo'];
  const text = io.stdin.toString('utf8');
  const delim = o.values.get('d')?.at(-1);
  const words = o.flags.has('0') ? text.split('\0').filter((w) => w !== '')
    : delim !== undefined ? text.split(delim.replace('\\n', '\n')).filter((w) => w !== '')
      : o.flags.has('I') ? text.split('\n').filter((w) => w.trim() !== '')
        : [...text.matchAll(/'([^']*)'|"([^"]*)"|((?:\\.|[^\s'"])+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!.replace(/\\(.)/g, '$1'));
  const cmd = nativeCommand(sh, argv[0]!, 'xargs');
  const runOne = async (a: string[]): Promise<number> => {
    if (o.flags.has('t')) io.err(`${a.join(' ')}\n`);
    return cmd(a.slice(1), io, sh);
  };
  let status = 0;
  const fail = (s: number) => { if (s !== 0) status = 123; };
  const rep = o.values.get('I')?.at(-1);
  if (rep !== undefined) {
    for (const w of words) fail(await runOne(argv.map((a) => a.replaceAll(rep, w))));
    return status;
  }
  if (words.length === 0) return o.flags.has('r') ? 0 : runOne(argv);
  const n = Number(o.values.get('n')?.at(-1) ?? o.values.get('L')?.at(-1) ?? words.length);
  if (!Number.isInteger(n) || n < 1) throw new RunError(`invalid number '${o.values.get('n')?.at(-1)}'`, 1);
  for (let i = 0; i < words.length; i += n) fail(await runOne([...argv, ...words.slice(i, i + n)]));
  return status;
};

