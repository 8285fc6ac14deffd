import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { OcimakeError } from '../errors.js';

/** The blob cache: $OCIMAKE_CACHE_DIR, else $XDG_CACHE_HOME/ocimake, else ~/.cache/ocimake. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCIMAKE_CACHE_DIR) return env.OCIMAKE_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ocimake');
}

let warned = false;

/**
 * The cache directory to use. An explicit one (--cache-dir, OCIMAKE_CACHE_DIR) must be a
 * writable directory, or the build stops with that said. The default one falls back, when
 * HOME cannot be written (serverless hosts, read-only images), to a directory under the temp
 * dir, and says so once.
 */
export function resolveCacheDir(explicit?: string, env: NodeJS.ProcessEnv = process.env, warn: (m: string) => void = (m) => process.stderr.write(`warning: ${m}\n`)): string {
  const chosen = explicit ?? env.OCIMAKE_CACHE_DIR;
  const dir = chosen ?? defaultCacheDir(env);
  const problem = unusable(dir);
  if (problem === undefined) return dir;
  if (chosen !== undefined) {
    throw new OcimakeError('CACHE_DIR', `the cache directory ${dir} cannot be used: ${problem}`, { hint: explicit !== undefined ? 'pass --cache-dir a directory you can write' : 'set OCIMAKE_CACHE_DIR to a directory you can write' });
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const fallback = join(tmpdir(), `ocimake-cache-${uid}`);
  const again = unusable(fallback);
  if (again !== undefined) throw new OcimakeError('CACHE_DIR', `no cache directory can be written: ${dir} (${problem}), ${fallback} (${again})`, { hint: 'pass --cache-dir DIR, or set OCIMAKE_CACHE_DIR' });
  if (!warned) { warned = true; warn(`cannot use the cache at ${dir} (${problem}); using ${fallback} for this run. Set OCIMAKE_CACHE_DIR or --cache-dir to choose`); }
  return fallback;
}

function unusable(dir: string): string | undefined {
  try {
    const st = statSync(dir, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) return 'it is not a directory';
    if (!st) mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'EACCES' || e.code === 'EROFS' ? 'not writable' : e.code === 'ENOTDIR' ? 'a parent is not a directory' : (e.code ?? e.message);
  }
}
