import { OcimakeError } from '../../errors.js';
import { RunError } from '../errors.js';
import { absPath, type Command, type Io, type ShellState } from '../shell/state.js';
import { mkdirParents } from './files.js';
import { eachOperand, parseOpts } from './opts.js';

// busybox install, natively: cp + chown + chmod (0755 unless -m; set last, so -m 4755 -o USER
// keeps its setuid bit, as busybox's does); -d makes directories and -D the parents of the
// destination.

const quiet: Io = { stdin: Buffer.alloc(0), out: () => {}, err: () => {} };

async function run(sh: ShellState, name: string, args: string[], io: Io): Promise<void> {
  const status = await sh.commands.get(name)!(args, io, sh);
  if (status !== 0) throw new RunError(`${name} ${args.join(' ')} failed`, status);
}

export const installCommand: Command = async (args, io, sh) => {
  const o = parseOpts('install', args, 'cdDpsm:o:g:vt:', { directory: 'd', mode: 'm', owner: 'o', group: 'g', 'target-directory': 't', verbose: 'v', 'preserve-timestamps': 'p', strip: 's' });
  if (o.flags.has('s')) throw new OcimakeError('RUN_UNSUPPORTED', 'install -s would execute strip', { hint: 'install without -s, or strip the binary before the build' });
  const mode = o.values.get('m')?.at(-1) ?? '755';
  const owner = o.values.get('o')?.at(-1);
  const group = o.values.get('g')?.at(-1);
  const finish = async (path: string) => {
    if (owner !== undefined) await run(sh, 'chown', [group !== undefined ? `${owner}:${group}` : owner, path], io);
    else if (group !== undefined) await run(sh, 'chgrp', [group, path], io);
    await run(sh, 'chmod', [mode, path], io);
  };
  if (o.flags.has('d')) {
    return eachOperand('install', o.rest, io, async (d) => {
      await run(sh, 'mkdir', [o.flags.has('v') ? '-pv' : '-p', d], o.flags.has('v') ? io : quiet);
      await finish(d);
    });
  }
  const target = o.values.get('t')?.at(-1);
  const srcs = target !== undefined ? o.rest : o.rest.slice(0, -1);
  const dest = target ?? o.rest.at(-1);
  if (dest === undefined || srcs.length === 0) throw new RunError('usage: install [-cdDsp] [-o USER] [-g GRP] [-m MODE] [-t DIR] [SOURCE]... DEST', 1);
  if (o.flags.has('D')) await mkdirParents(sh, target !== undefined ? absPath(sh, target) : absPath(sh, dest).replace(/\/[^/]*$/, '') || '/');
  const intoDir = (await sh.fs.resolve(absPath(sh, dest), true)).node?.type === 'directory';
  if (srcs.length > 1 && !intoDir) throw new RunError(`'${dest}' is not a directory`, 1);
  return eachOperand('install', srcs, io, async (s) => {
    const to = intoDir ? `${dest.replace(/\/+$/, '')}/${s.replace(/\/+$/, '').split('/').pop()}` : dest;
    // busybox: the destination is replaced, not written through (a new file, the RUN's owner).
    const existing = await sh.fs.resolve(absPath(sh, to), false);
    if (existing.node && existing.node.type !== 'directory') await sh.fs.remove(existing.path);
    await run(sh, 'cp', [s, to], io);
    await finish(to);
    if (o.flags.has('v')) io.out(`'${s}' -> '${to}'\n`);
  });
};

export const INSTALL_COMMANDS: [string, Command][] = [['install', installCommand]];
