import { homedir } from 'node:os';
import { join } from 'node:path';

/** The blob cache: $OCIMAKE_CACHE_DIR, else $XDG_CACHE_HOME/ocimake, else ~/.cache/ocimake. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCIMAKE_CACHE_DIR) return env.OCIMAKE_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ocimake');
}
