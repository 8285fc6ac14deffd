import { Readable } from 'node:stream';
import { OcimakeError } from '../../errors.js';
import { readLayer } from '../../layer/layer-reader.js';
import { limit, overLimit } from '../../util/limits.js';
import { RunError } from '../errors.js';
import { Inode, type Meta, type Node } from '../fs/run-fs.js';
import { absPath, newMeta, type Command, type Io, type ShellState } from '../shell/state.js';
import { mkdirParents } from './files.js';
import { parseOpts } from './opts.js';
import { readOperand } from './text.js';
import { unxz, XZ_MAGIC } from './xz.js';

// tar -x and -t, natively: the "unpack" of "fetch, check, unpack". The archive (plain or gzip)
// is read with the layer reader, so a member that climbs out with `..` is refused as a hostile
// layer is; members land in the RUN's filesystem as GNU and busybox tar put them when run as
// root: owners and modes as archived (-o: the RUN's user; -p is implied), parents made as
// needed, directories merged, symlinked directories followed. -C, --strip-components and
// member names select where and what; xz archives (-J, or by their magic) too. Creating
// archives, and bzip2, are refused.

function unsupported(what: string, hint: string): OcimakeError {
  return new OcimakeError('RUN_UNSUPPORTED', `tar ${what} is not supported natively`, { hint });
}

export const tarCommand: Command = async (args, io, sh) => {
  // Old style: the first argument is a bundle of letters without a dash ("tar xzf a.tgz").
  const argv = args.length > 0 && !args[0]!.startsWith('-') ? [`-${args[0]}`, ...args.slice(1)] : args;
  const o = parseOpts('tar', argv, 'xtczjJvf:C:opOm@%:&^', {
    extract: 'x', get: 'x', list: 't', create: 'c', gzip: 'z', gunzip: 'z', bzip2: 'j', xz: 'J', verbose: 'v', file: 'f', directory: 'C',
    'no-same-owner': 'o', 'preserve-permissions': 'p', 'same-permissions': 'p', 'to-stdout': 'O', touch: 'm',
    'same-owner': '@', 'strip-components': '%', strip: '%', overwrite: '&', 'no-same-permissions': '^',
  });
  if (o.flags.has('c')) throw unsupported('-c', 'RUN cannot create archives natively; COPY the files instead');
  if (o.flags.has('j')) throw unsupported('-j (bzip2)', 'fetch a .tar.gz or .tar.xz of the same release, or unpack the archive before the build and COPY the files');
  if (!o.flags.has('x') && !o.flags.has('t')) throw new RunError('need -x or -t', 1);
  const file = o.values.get('f')?.at(-1) ?? '-';
  let archive = await readOperand(sh, file, io.stdin);
  // xz with -J or found by its magic, as busybox's tar finds it; bzip2 is refused.
  if (archive.subarray(0, 3).toString('latin1') === 'BZh') throw unsupported('of a bzip2 archive', 'fetch a .tar.gz or .tar.xz of the same release, or unpack the archive before the build and COPY the files');
  if (archive.subarray(0, 6).equals(XZ_MAGIC)) archive = await unxz(archive, file);
  else if (o.flags.has('J') && archive.length > 0) throw new RunError('invalid magic', 1);
  const strip = Number(o.values.get('%')?.at(-1) ?? 0);
  if (!Number.isInteger(strip) || strip < 0) throw new RunError(`invalid number '${o.values.get('%')?.at(-1)}'`, 2);
  const members = o.rest.map((m) => m.replace(/^\.\//, '').replace(/\/+$/, ''));
  const matched = new Set<string>();
  const wanted = (p: string) => {
    if (members.length === 0) return true;
    const m = members.find((x) => p === x || p.startsWith(`${x}/`));
    if (m !== undefined) matched.add(m);
    return m !== undefined;
  };
  const dest = absPath(sh, o.values.get('C')?.at(-1) ?? '.');
  const into = await sh.fs.resolve(dest, true);
  if (o.flags.has('x') && !o.flags.has('O') && into.node?.type !== 'directory') throw new RunError(`can't change directory to '${dest}': No such file or directory`, 2);
  const keepOwner = sh.user.uid === 0 && !o.flags.has('o');
  const made = new Map<string, Inode>();
  let seen = 0;
  let total = 0;
  const maxBytes = limit('runFileSize');
  for await (const { entry, body } of readLayer(Readable.from([archive]), `tar archive ${file}`)) {
    seen++;
    const parts = entry.path.split('/').filter((s) => s !== '');
    const rel = parts.slice(strip).join('/');
    if (rel === '' || !wanted(entry.path)) continue;
    if (o.flags.has('t')) { io.out(`${entry.path}${entry.type === 'directory' ? '/' : ''}\n`); continue; }
    total += entry.type === 'file' ? entry.size : 0;
    if (total > maxBytes) throw overLimit('runFileSize', `tar archive ${file} unpacks to more than ${maxBytes} bytes`, 'unpack large archives before the build and COPY the files');
    const data = entry.type === 'file' ? await readAll(body) : undefined;
    if (o.flags.has('v')) io.out(`${entry.path}\n`);
    if (o.flags.has('O')) { if (data) io.out(data); continue; }
    const mode = o.flags.has('^') ? entry.mode & 0o7777 & ~sh.umask : entry.mode & 0o7777;
    const meta: Meta = keepOwner ? { mode, uid: entry.uid, gid: entry.gid } : { ...newMeta(sh, entry.mode & 0o7777) };
    await extractOne(sh, `${into.path === '' ? '' : `/${into.path}`}/${rel}`, entry, meta, data, made, strip, io);
  }
  if (seen === 0 && archive.length > 0) throw new RunError('short read', 1);
  const missing = members.filter((m) => !matched.has(m));
  for (const m of missing) io.err(`tar: ${m}: Not found in archive\n`);
  return missing.length > 0 ? 2 : 0;
};

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Writes one member at `abs`: parents made as needed, symlinked directories followed. */
async function extractOne(sh: ShellState, abs: string, entry: { path: string; type: string; linkname?: string }, meta: Meta, data: Buffer | undefined, made: Map<string, Inode>, strip: number, io: Io): Promise<void> {
  const parent = abs.slice(0, abs.lastIndexOf('/')) || '/';
  await mkdirParents(sh, parent, 2);
  const { path, node } = await sh.fs.resolve(abs, entry.type === 'directory');
  if (entry.type === 'directory') {
    if (node?.type === 'directory') { sh.fs.set(path, { ...node, meta }); return; }
    if (node) await sh.fs.remove(path);
    await sh.fs.makeDir(path, meta);
    return;
  }
  if (node?.type === 'directory') throw new RunError(`can't remove old file ${entry.path}: Is a directory`, 2);
  let n: Node;
  if (entry.type === 'file') {
    const ino = new Inode(meta, data ?? Buffer.alloc(0));
    made.set(entry.path, ino);
    n = { type: 'file', ino };
  } else if (entry.type === 'symlink') {
    n = { type: 'symlink', meta: { mode: 0o777, uid: meta.uid, gid: meta.gid }, target: entry.linkname ?? '' };
  } else if (entry.type === 'hardlink') {
    const target = made.get(entry.linkname ?? '');
    if (!target) {
      const stripped = (entry.linkname ?? '').split('/').slice(strip).join('/');
      throw new RunError(`can't create hardlink '${entry.path}' to '${stripped || entry.linkname}': not in the archive before it`, 2);
    }
    made.set(entry.path, target);
    n = { type: 'file', ino: target };
  } else {
    io.err(`tar: ${entry.path}: device and FIFO members are skipped\n`);
    return;
  }
  sh.fs.set(path, n);
}
