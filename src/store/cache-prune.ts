import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { OcimakeError } from '../errors.js';
import { CACHE_PARTS, type Cache } from './cache.js';

// `ocimake cache prune` and `ocimake cache du`, over the parts cache.ts names. Every hit touches
// its file's mtime, so the oldest mtime is the least recently used. A build running meanwhile
// (its marker in users/) keeps everything used since it started: prune never takes a blob or a
// record from under it.

interface CacheFile { path: string; size: number; used: number }

async function walk(dir: string, out: CacheFile[]): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.isFile()) {
      const st = await fs.stat(p).catch(() => undefined);
      if (st) out.push({ path: p, size: st.size, used: st.mtimeMs });
    }
  }
}

async function filesOf(cache: Cache): Promise<CacheFile[]> {
  const files: CacheFile[] = [];
  for (const part of CACHE_PARTS) await walk(cache.part(part), files);
  const st = await fs.stat(cache.statCacheFile).catch(() => undefined);
  if (st) files.push({ path: cache.statCacheFile, size: st.size, used: st.mtimeMs });
  return files;
}

/** What the cache holds, per part. */
export async function cacheUsage(cache: Cache): Promise<{ part: string; files: number; bytes: number }[]> {
  const out = [];
  for (const part of CACHE_PARTS) {
    const files: CacheFile[] = [];
    await walk(cache.part(part), files);
    out.push({ part, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) });
  }
  return out;
}

/** Parses a size as docker spells it: 512, 10kb, 500MB, 1.5g, 2GiB. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(text);
  if (!m) throw new OcimakeError('FLAG_INVALID', `"${text}" is not a size`, { hint: 'e.g. 500MB, 10GB or 1.5g' });
  const power = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/**
 * Removes cache files, least recently used first, until at most `keepBytes` remain (all of
 * them when it is undefined). Layer records go first within the same age, so a record never
 * outlives its blob for long; a record whose blob is gone is a miss, never an error. What a
 * running build used since it started is kept (`inUse` counts those bytes).
 */
export async function pruneCache(cache: Cache, keepBytes?: number): Promise<{ removed: number; freed: number; kept: number; inUse: number }> {
  const files = await filesOf(cache);
  // Less a second: a hit marks its file with a time of whole milliseconds (utimes), the marker has the kernel's nanoseconds.
  const oldest = cache.oldestUse();
  const since = oldest === undefined ? undefined : oldest - 1000;
  const isRecord = (f: CacheFile) => Number(f.path.includes('/layers/') || f.path.includes('/steps/'));
  files.sort((a, b) => a.used - b.used || isRecord(b) - isRecord(a));
  let total = files.reduce((n, f) => n + f.size, 0);
  let removed = 0;
  let freed = 0;
  let inUse = 0;
  for (const f of files) {
    if (keepBytes !== undefined && total <= keepBytes) break;
    if (since !== undefined && f.used >= since) { inUse += f.size; continue; }
    await fs.rm(f.path, { force: true });
    total -= f.size;
    freed += f.size;
    removed++;
  }
  return { removed, freed, kept: total, inUse };
}
