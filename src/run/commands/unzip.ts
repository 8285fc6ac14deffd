import yauzl from 'yauzl';
import { OcimakeError } from '../../errors.js';
import { limit, overLimit } from '../../util/limits.js';
import type { Glob } from '../../util/glob.js';
import { RunError } from '../errors.js';
import { Inode, type Meta } from '../fs/run-fs.js';
import { shellPattern } from '../shell/expand.js';
import { absPath, type Command } from '../shell/state.js';
import { mkdirParents } from './files.js';
import { parseOpts } from './opts.js';
import { readOperand } from './text.js';

// busybox unzip, natively (terraform, awscli and chromedriver ship as zips). yauzl reads the
// archive (it refuses absolute names and names that climb out with `..`); members land in the
// RUN's filesystem as busybox's unzip makes them: owned by the RUN's user, with the mode a
// Unix zip recorded (0666/0777 otherwise) under the umask, symlinks kept, parents made.
// An existing file is replaced only with -o (busybox would ask; a RUN has nobody to answer).

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

/** A member pattern as busybox matches it (fnmatch without FNM_PATHNAME: `*` matches `/` too). */
const globRe = (g: string): Glob => shellPattern(g, true);

export const unzipCommand: Command = async (args, io, sh) => {
  // -x takes every operand after it (until -d) as an exclusion, as busybox does.
  const excludes: string[] = [];
  const rest: string[] = [];
  for (let i = 0, ex = false; i < args.length; i++) {
    if (args[i] === '-x') { ex = true; continue; }
    if (args[i] === '-d') { rest.push(args[i]!, args[i + 1] ?? ''); i++; ex = false; continue; }
    (ex ? excludes : rest).push(args[i]!);
  }
  const o = parseOpts('unzip', rest, 'lnopqjvd:t');
  if (o.flags.has('t')) throw new OcimakeError('RUN_UNSUPPORTED', 'unzip -t is not supported natively', { hint: 'check the archive with sha256sum -c instead' });
  const [file, ...members] = o.rest;
  if (!file) throw new RunError('usage: unzip [-lnojpq] FILE[.zip] [FILE]... [-x FILE]... [-d DIR]', 1);
  const data = await readOperand(sh, file, io.stdin).catch(async (e: unknown) => {
    if (!file.endsWith('.zip') && e instanceof RunError) return readOperand(sh, `${file}.zip`, io.stdin);
    throw e;
  });
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(data, { lazyEntries: true, decodeStrings: true, validateEntrySizes: true });
  } catch (e) {
    throw new RunError(`${file}: not a zip file (${(e as Error).message})`, 9);
  }
  const include = members.map(globRe);
  const exclude = excludes.map(globRe);
  const quiet = o.flags.has('q');
  const dest = o.values.get('d')?.at(-1);
  if (!quiet && !o.flags.has('p')) io.out(`Archive:  ${file}\n`);
  const maxEntries = limit('layerEntries');
  const maxBytes = limit('runFileSize');
  let total = 0;
  let n = 0;
  let listed = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      if (++n > maxEntries) throw overLimit('layerEntries', `${file} has more than ${maxEntries} members`);
      const name = entry.fileName;
      if ((include.length > 0 && !include.some((r) => r.test(name))) || exclude.some((r) => r.test(name))) continue;
      const unixMode = entry.versionMadeBy >> 8 === 3 ? entry.externalFileAttributes >>> 16 : 0;
      const isDir = name.endsWith('/') || (unixMode & S_IFMT) === S_IFDIR;
      if (o.flags.has('l')) { io.out(`${String(entry.uncompressedSize).padStart(9)}  ${name}\n`); listed += entry.uncompressedSize; continue; }
      total += isDir ? 0 : entry.uncompressedSize;
      if (total > maxBytes) throw overLimit('runFileSize', `${file} unpacks to more than ${maxBytes} bytes`, 'unpack large archives before the build and COPY the files');
      const bytes = isDir ? Buffer.alloc(0) : await readEntry(zip, entry);
      if (o.flags.has('p')) { io.out(bytes); continue; }
      const rel = o.flags.has('j') ? name.replace(/\/+$/, '').split('/').pop()! : name.replace(/\/+$/, '');
      if (o.flags.has('j') && isDir) continue;
      const abs = absPath(sh, dest ? `${dest.replace(/\/+$/, '')}/${rel}` : rel);
      await mkdirParents(sh, abs.slice(0, abs.lastIndexOf('/')) || '/', 1);
      const { path, node } = await sh.fs.resolve(abs, isDir);
      const mode = (unixMode & 0o7777) || (isDir ? 0o777 : 0o666);
      const meta: Meta = { mode: mode & ~sh.umask & 0o7777, uid: sh.user.uid, gid: sh.user.gid };
      if (isDir) {
        // As mkdir(2): made with the recorded mode under the umask; an existing one is left as it is.
        if (!quiet) io.out(`   creating: ${name}\n`);
        if (node?.type !== 'directory') {
          if (node) throw new RunError(`can't create directory '${rel}': File exists`, 1);
          await sh.fs.makeDir(path, meta);
        }
        continue;
      }
      if (node?.type === 'directory') throw new RunError(`can't create '${rel}': Is a directory`, 1);
      if (node && o.flags.has('n')) continue;
      if (node && !o.flags.has('o')) throw new RunError(`replace ${rel}? no one answers in a RUN: use unzip -o to replace, -n to keep`, 1);
      if ((unixMode & S_IFMT) === S_IFLNK) {
        if (!quiet) io.out(`  linking: ${name} -> ${bytes.toString('utf8')}\n`);
        sh.fs.set(path, { type: 'symlink', meta: { ...meta, mode: 0o777 }, target: bytes.toString('utf8') });
        continue;
      }
      if (!quiet) io.out(`  inflating: ${name}\n`);
      sh.fs.set(path, { type: 'file', ino: new Inode(meta, bytes) });
    }
  } catch (e) {
    if (e instanceof RunError || e instanceof OcimakeError) throw e;
    throw new RunError(`${file}: ${(e as Error).message}`, 9);
  } finally {
    zip.close();
  }
  if (o.flags.has('l')) io.out(`${String(listed).padStart(9)}  ${n} files\n`);
  return 0;
};

async function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await zip.openReadStreamPromise(entry)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
