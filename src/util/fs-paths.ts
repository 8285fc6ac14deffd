import { accessSync, constants, promises as fs, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { OcimakeError, type ErrorCode } from '../errors.js';

/**
 * `mkdir -p`, one component at a time. Node's recursive mkdir can loop forever where a
 * parent exists but refuses new entries (/proc, some FUSE mounts); this fails instead.
 */
export async function mkdirp(path: string, mode?: number): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(path); ; ) {
    try {
      if (!(await fs.stat(p)).isDirectory()) throw new OcimakeError('PATH_INVALID', `cannot create the directory ${path}: ${p} is a file`, { hint: 'choose a path whose parents are directories' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.push(p);
      const up = dirname(p);
      if (up === p) break;
      p = up;
    }
  }
  for (const d of missing.reverse()) {
    try {
      await fs.mkdir(d, mode === undefined ? {} : { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await fs.stat(d)).isDirectory()) continue;
      throw err;
    }
  }
}

/** What is at `path`: 'dir', 'file' (anything else), or undefined when nothing is. */
export function pathKind(path: string): 'dir' | 'file' | undefined {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}

/**
 * Checks, before any work, that `path` can be written as a `want` ('dir' or 'file'): it is
 * missing or of that kind, its nearest existing parent is a directory, and this process may
 * write there (a file output is written beside its destination, then renamed onto it, so its
 * directory must be writable too), as buildx checks its outputs before it builds.
 */
export function checkDestination(path: string, want: 'dir' | 'file', what: string): void {
  const kind = pathKind(path);
  if (kind && kind !== want) {
    throw new OcimakeError('OUTPUT_INVALID', `${what}: ${path} is a ${kind === 'dir' ? 'directory' : 'file'}, and this output writes a ${want === 'dir' ? 'directory' : 'file'}`, {
      hint: want === 'file' ? `give a file path, e.g. ${path.replace(/\/$/, '')}/image.tar` : 'give a directory path (for an archive, write dest=FILE.tar)',
    });
  }
  if (kind === 'dir') return checkWritable(path, what, path);
  for (let p = dirname(resolve(path)); ; p = dirname(p)) {
    const k = pathKind(p);
    if (k === 'dir') return checkWritable(p, what, path);
    if (k === 'file') throw new OcimakeError('OUTPUT_INVALID', `${what}: ${path} cannot be created, because ${p} is a file`, { hint: 'choose a path whose parents are directories' });
    if (dirname(p) === p) return;
  }
}

function checkWritable(dir: string, what: string, path: string): void {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const why = ERRNO_WORDS[code] ?? code;
    throw new OcimakeError('OUTPUT_INVALID', `${what}: ${path} cannot be written: ${dir === path ? '' : `${dir}: `}${why}`, {
      hint: code === 'EROFS' ? 'write the output to a writable filesystem' : 'choose a destination this user may write to, or change the permissions of the directory',
    });
  }
}

const ERRNO_WORDS: Record<string, string> = {
  EEXIST: 'something of that name is in the way',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  EROFS: 'the filesystem is read-only',
  ENOENT: 'no such file or directory',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
};

/** A filesystem error from Node (`EEXIST: file already exists, mkdir 'x'`) in words, or undefined for other errors. */
export function fsErrorInWords(err: unknown): OcimakeError | undefined {
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (!e || typeof e.code !== 'string' || !(e.code in ERRNO_WORDS) || !e.syscall) return undefined;
  const verbs: Record<string, string> = { mkdir: 'cannot create the directory', open: 'cannot open', rename: 'cannot move into place', unlink: 'cannot remove', rmdir: 'cannot remove', scandir: 'cannot list', write: 'cannot write', link: 'cannot link', symlink: 'cannot create the link', copyfile: 'cannot copy' };
  const verb = verbs[e.syscall] ?? `${e.syscall} failed on`;
  const target = e.syscall === 'rename' && e.dest ? e.dest : e.path ?? '';
  return new OcimakeError(`FS_${e.code}` as ErrorCode, `${verb} ${target}: ${ERRNO_WORDS[e.code]}`.replace(/\s+:/, ':'), {
    cause: err,
    hint: e.code === 'ENOSPC' || e.code === 'EDQUOT' ? 'free some space (the blob cache is in --cache-dir) and try again' : 'check the paths given to -o, --iidfile, --metadata-file and --cache-dir',
  });
}
