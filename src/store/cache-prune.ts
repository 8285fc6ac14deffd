import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { OcimakeError } from '../errors.js';

// `ocimake cache prune` and `ocimake cache du`: the cache dir holds blobs (pulled and built
// layers, configs), layer records (layers/), step records (steps/), layers' entry indexes
// (layer-index/), apk indexes and packages (apk/) and files ADD <url> and RUN's wget/curl
// fetched, with their validators (urls/). Every hit touches its file's mtime, so the oldest
// mtime is the least recently used.

const PARTS = ['blobs', 'layers', 'steps', 'layer-index', 'apk', 'urls'] as const;

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

/** What the cache holds, per part. */
export async function cacheUsage(cacheDir: string): Promise<{ part: string; files: number; bytes: number }[]> {
  const out = [];
  for (const part of PARTS) {
    const files: CacheFile[] = [];
    await walk(join(cacheDir, part), files);
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
 * outlives its blob for long; a record whose blob is gone is a miss, never an error.
 */
export async function pruneCache(cacheDir: string, keepBytes?: number): Promise<{ removed: number; freed: number; kept: number }> {
  const files: CacheFile[] = [];
  for (const part of PARTS) await walk(join(cacheDir, part), files);
  const isRecord = (f: CacheFile) => Number(f.path.includes('/layers/') || f.path.includes('/steps/'));
  files.sort((a, b) => a.used - b.used || isRecord(b) - isRecord(a));
  let total = files.reduce((n, f) => n + f.size, 0);
  let removed = 0;
  let freed = 0;
  for (const f of files) {
    if (keepBytes !== undefined && total <= keepBytes) break;
    await fs.rm(f.path, { force: true });
    total -= f.size;
    freed += f.size;
    removed++;
  }
  return { removed, freed, kept: total };
}
