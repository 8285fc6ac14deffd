import { OcimakeError } from '../../errors.js';
import { RunError } from '../errors.js';
import { absPath, type Command } from '../shell/state.js';
import { idNames } from './ids.js';
import { modeString, sizeOf } from './ls.js';
import { parseOpts } from './opts.js';

// stat -c FORMAT, natively: name, size, mode, owners and type. Layers keep no times, inodes or
// link counts a RUN could honestly report, so those conversions (and stat without -c, which
// prints them) are refused.

export const statCommand: Command = async (args, io, sh) => {
  const o = parseOpts('stat', args, 'c:Lt', { format: 'c', dereference: 'L' });
  const fmt = o.values.get('c')?.at(-1);
  if (fmt === undefined) throw new OcimakeError('RUN_UNSUPPORTED', 'stat without -c is not supported natively (it prints times and inodes a layer does not keep)', { hint: 'stat -c with %n %s %a %A %u %g %U %G %F is' });
  const { users, groups } = await idNames(sh);
  let status = 0;
  for (const f of o.rest) {
    const { node } = await sh.fs.resolve(absPath(sh, f), o.flags.has('L'));
    if (!node) { io.err(`stat: can't stat '${f}': No such file or directory\n`); status = 1; continue; }
    const meta = node.type === 'file' ? node.ino.meta : node.meta;
    const size = sizeOf(node);
    const kinds: Record<string, string> = { file: size === 0 ? 'regular empty file' : 'regular file', directory: 'directory', symlink: 'symbolic link', other: 'special file' };
    const conv: Record<string, () => string> = {
      n: () => f, N: () => (node.type === 'symlink' ? `'${f}' -> '${node.target}'` : `'${f}'`), s: () => String(size), a: () => (meta.mode & 0o7777).toString(8), A: () => modeString(node),
      u: () => String(meta.uid), g: () => String(meta.gid), U: () => users.get(meta.uid) ?? 'UNKNOWN', G: () => groups.get(meta.gid) ?? 'UNKNOWN', F: () => kinds[node.type]!, '%': () => '%',
    };
    io.out(`${fmt.replace(/%(.)/g, (_m, c: string) => {
      const g = conv[c];
      if (!g) throw new OcimakeError('RUN_UNSUPPORTED', `stat -c %${c} is not supported natively`, { hint: 'a layer keeps no times, inodes or link counts; %n %N %s %a %A %u %g %U %G %F are' });
      return g();
    })}\n`);
  }
  if (o.rest.length === 0) throw new RunError('usage: stat [-L] -c FORMAT FILE...', 1);
  return status;
};
