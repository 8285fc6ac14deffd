import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { OcimakeError } from '../../errors.js';
import { limit, overLimit } from '../../util/limits.js';
import { RunError } from '../errors.js';
import { Inode } from '../fs/run-fs.js';
import { writeFileAt } from '../shell/interp.js';
import { absPath, type Command } from '../shell/state.js';
import { eachOperand, parseOpts } from './opts.js';
import { readOperand } from './text.js';

// busybox gunzip, zcat and gzip -d, natively: gunzip replaces FILE.gz by FILE with the same mode
// (-c, -k, -f as busybox); compressing is refused (busybox's own deflate writes other bytes
// than zlib's, so a layer would differ from a real build's).

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

export const GZIP_COMMANDS: [string, Command][] = [['gunzip', gunzip('gunzip')], ['zcat', gunzip('zcat')], ['gzip', gunzip('gzip')]];
