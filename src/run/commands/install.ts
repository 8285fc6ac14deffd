import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { OcimakeError } from '../../errors.js';
import { limit, overLimit } from '../../util/limits.js';
import { RunError } from '../errors.js';
import { Inode } from '../fs/run-fs.js';
import { writeFileAt } from '../shell/interp.js';
import { absPath, type Command, type Io, type ShellState } from '../shell/state.js';
import { mkdirParents } from './files.js';
import { eachOperand, parseOpts } from './opts.js';
import { readOperand } from './text.js';

// busybox install and gunzip/zcat, natively. install is cp + chown + chmod (0755 unless -m;
// set last, so -m 4755 -o USER keeps its setuid bit, as busybox's does); -d makes directories and
// -D the parents of the destination. gunzip replaces FILE.gz by FILE with the same mode
// (-c, -k, -f as busybox); compressing is refused (busybox's own deflate writes other
// bytes than zlib's, so a layer would differ from a real build's).

const quiet: Io = { stdin: Buffer.alloc(0), out: () => {}, err: () => {} };

async function run(sh: ShellState, name: string, args: string[], io: Io): Promise<void> {
  const status = await sh.commands.get(name)!(args, io, sh);
  if (status !== 0) throw new RunError(`${name} ${args.join(' ')} failed`, status);
}

export const installCommand: Command = async (args, io, sh) => {
  const o = parseOpts('install', args, 'cdDpsm:o:g:vt:', { directory: 'd', mode: 'm', owner: 'o', group: 'g', 'target-directory': 't' });
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
      await run(sh, 'mkdir', ['-p', d], quiet);
      await finish(d);
    });
  }
  const target = o.values.get('t')?.at(-1);
  const srcs = target !== undefined ? o.rest : o.rest.slice(0, -1);
  const dest = target ?? o.rest.at(-1);
  if (dest === undefined || srcs.length === 0) throw new RunError('usage: install [-cdDsp] [-o USER] [-g GRP] [-m MODE] [-t DIR] [SOURCE]... DEST', 1);
  if (o.flags.has('D')) await mkdirParents(sh, target !== undefined ? absPath(sh, target) : absPath(sh, dest).replace(/\/[^/]*$/, '') || '/', 'install');
  const intoDir = (await sh.fs.resolve(absPath(sh, dest), true)).node?.type === 'directory';
  if (srcs.length > 1 && !intoDir) throw new RunError(`'${dest}' is not a directory`, 1);
  return eachOperand('install', srcs, io, async (s) => {
    const to = intoDir ? `${dest.replace(/\/+$/, '')}/${s.replace(/\/+$/, '').split('/').pop()}` : dest;
    // busybox: the destination is replaced, not written through (a new file, the RUN's owner).
    const existing = await sh.fs.resolve(absPath(sh, to), false);
    if (existing.node && existing.node.type !== 'directory') await sh.fs.remove(existing.path);
    await run(sh, 'cp', [s, to], io);
    await finish(to);
  });
};

async function gunzipBytes(data: Buffer, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const max = limit('runFileSize');
  let size = 0;
  try {
    for await (const c of Readable.from([data]).pipe(createGunzip())) {
      size += (c as Buffer).length;
      if (size > max) throw overLimit('runFileSize', `${name} unpacks to more than ${max} bytes`, 'unpack large files before the build and COPY them');
      chunks.push(c as Buffer);
    }
  } catch (e) {
    if (e instanceof OcimakeError) throw e;
    throw new RunError(`${name}: invalid magic`, 1);
  }
  return Buffer.concat(chunks);
}

function gunzip(name: 'gunzip' | 'zcat' | 'gzip'): Command {
  return async (args, io, sh) => {
    const o = parseOpts(name, args, 'cdfkqntv19', { stdout: 'c', decompress: 'd', force: 'f', keep: 'k', quiet: 'q' });
    if (name === 'gzip' && !o.flags.has('d')) {
      throw new OcimakeError('RUN_UNSUPPORTED', 'gzip (compressing) is not supported natively', { hint: 'RUN decompresses with gunzip, zcat and gzip -d; compress before the build and COPY the file' });
    }
    const files = o.rest.length === 0 ? ['-'] : o.rest;
    const toStdout = name === 'zcat' || o.flags.has('c') || files.includes('-');
    return eachOperand(name, files, io, async (f) => {
      const data = await gunzipBytes(await readOperand(sh, f, io.stdin), f);
      if (o.flags.has('t')) return;
      if (toStdout || f === '-') { io.out(data); return; }
      const m = /^(.*)\.(gz|tgz|z)$/i.exec(f);
      if (!m) throw new RunError(`${f}: unknown suffix -- ignored`, 1);
      const out = /\.tgz$/i.test(f) ? `${m[1]}.tar` : m[1]!;
      const src = await sh.fs.resolve(absPath(sh, f), true);
      const there = await sh.fs.resolve(absPath(sh, out), false);
      if (there.node && !o.flags.has('f')) throw new RunError(`can't open '${out}': File exists`, 1);
      // As busybox's gunzip: the output keeps the input's mode (not its owner); the input goes unless -k.
      if (there.node) await sh.fs.remove(there.path);
      await writeFileAt(sh, out, data, false);
      const made = await sh.fs.resolve(absPath(sh, out), false);
      if (made.node?.type === 'file' && src.node?.type === 'file') {
        sh.fs.set(made.path, { type: 'file', ino: new Inode({ mode: src.node.ino.meta.mode, uid: sh.user.uid, gid: sh.user.gid }, data) });
      }
      if (!o.flags.has('k')) await sh.fs.remove(src.path);
    });
  };
}

export const INSTALL_COMMANDS: [string, Command][] = [
  ['install', installCommand], ['gunzip', gunzip('gunzip')], ['zcat', gunzip('zcat')], ['gzip', gunzip('gzip')],
];
