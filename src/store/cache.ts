import { existsSync, mkdirSync, promises as fs, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import { mkdirp } from '../util/fs-paths.js';
import { ownerState, processTag } from '../util/temp-files.js';
import { BlobStore } from './blob-store.js';
import { resolveCacheDir } from './cache-dir.js';

// The cache directory, owned by one object: where each part lives, how a record is read and
// written, which version of the layout it is, and who is using it (for prune). The parts:
//   blobs/        pulled and built blobs, by digest (BlobStore)
//   layer-index/  each layer's list of entries, by digest (entry-index.ts)
//   layers/       layer records: what a layer key made (layer-cache.ts)
//   steps/        step records: what a step key made (step-cache.ts)
//   urls/         files ADD <url> and RUN's wget/curl fetched, with their validators
//   apk/          apk indexes and packages, with their validators
//   run-cache/    RUN --mount=type=cache directories, by id
//   stat-cache.json  content digests of context files by stat signature
//   tuf/          Sigstore's trusted metadata (verify; never pruned)
//   users/        one file per build using the cache, while it runs (prune keeps what they use)
// Every record is JSON with a `format` field, written atomically and read through a schema: a
// record of another format, or one cut short, is a miss, never an error. cache.json names the
// layout; a cache written by a newer ocimake is read for what this one knows, with a note.

export const CACHE_LAYOUT = 1;
export const CACHE_PARTS = ['blobs', 'layer-index', 'layers', 'steps', 'urls', 'apk', 'run-cache'] as const;
export type CachePart = (typeof CACHE_PARTS)[number];

const noted = new Set<string>();
let useSeq = 0;
/** A marker of another pid namespace (its process cannot be asked) counts as in use for this long. */
const FOREIGN_USER_MS = 24 * 3600_000;

export class Cache {
  #blobs: BlobStore | undefined;
  private constructor(readonly root: string) {}

  /** The cache at --cache-dir, OCIMAKE_CACHE_DIR or the default (cache-dir.ts), with its layout checked. */
  static open(explicit?: string, note: (m: string) => void = (m) => process.stderr.write(`note: ${m}\n`)): Cache {
    const c = new Cache(resolveCacheDir(explicit));
    c.#checkLayout(note);
    return c;
  }

  /** A cache at `root` as it is (tests, and the parts of a cache given by path). */
  static at(root: string): Cache {
    return new Cache(root);
  }

  /** The blob store (blobs/, with each layer's entry index in layer-index/). */
  get blobs(): BlobStore {
    return (this.#blobs ??= BlobStore.cache(this.root));
  }

  /** Sigstore's TUF metadata (not pruned: verifying offline needs it). */
  get tufDir(): string {
    return join(this.root, 'tuf');
  }

  part(p: CachePart): string {
    return join(this.root, p);
  }

  get statCacheFile(): string {
    return join(this.root, 'stat-cache.json');
  }

  /** Where the record of `key` lives in `part` (fanned out by its first two characters). */
  recordPath(part: 'layers' | 'steps', key: string): string {
    return join(this.root, part, key.slice(0, 2), `${key}.json`);
  }

  /** A kept file and the record beside it (`<part>/<sub>/<id>` and `<id>.json`). */
  keptPaths(part: 'urls' | 'apk', sub: string, id: string): { body: string; meta: string } {
    const dir = join(this.root, part, sub);
    return { body: join(dir, id), meta: join(dir, `${id}.json`) };
  }

  /** Reads a record through its schema; a missing, cut or foreign one is undefined. A hit is marked used (prune is least recently used first). */
  async readRecord<T>(path: string, schema: { parse(x: unknown): T }, touch = true): Promise<T | undefined> {
    try {
      const rec = schema.parse(JSON.parse(await fs.readFile(path, 'utf8')));
      if (touch) { const now = new Date(); await fs.utimes(path, now, now).catch(() => {}); }
      return rec;
    } catch {
      return undefined;
    }
  }

  /** Writes a record atomically: a reader sees all of it or nothing. */
  async writeRecord(path: string, rec: object): Promise<void> {
    await mkdirp(join(path, '..'));
    await writeFileAtomic(path, JSON.stringify(rec));
  }

  /**
   * Marks this process as using the cache until the returned function is called: prune keeps
   * what a running build has used since it started. A killed build's marker is ignored.
   */
  use(): () => void {
    const dir = join(this.root, 'users');
    const file = join(dir, `${processTag()}-${++useSeq}`);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, '');
    } catch {
      return () => {};
    }
    return () => rmSync(file, { force: true });
  }

  /** When the oldest build now using the cache started (ms since the epoch), or undefined; markers of processes that are gone are removed. */
  oldestUse(now = Date.now()): number | undefined {
    const dir = join(this.root, 'users');
    let oldest: number | undefined;
    let names: string[];
    try { names = readdirSync(dir); } catch { return undefined; }
    for (const name of names) {
      const tag = name.replace(/-\d+$/, '');
      let started: number;
      try { started = statSync(join(dir, name)).mtimeMs; } catch { continue; }
      const state = ownerState(tag);
      if (state === 'gone' || (state === 'unsure' && now - started > FOREIGN_USER_MS)) { rmSync(join(dir, name), { force: true }); continue; }
      oldest = oldest === undefined ? started : Math.min(oldest, started);
    }
    return oldest;
  }

  #checkLayout(note: (m: string) => void): void {
    const file = join(this.root, 'cache.json');
    let layout: number | undefined;
    try { layout = (JSON.parse(readFileSync(file, 'utf8')) as { layout?: unknown }).layout as number; } catch { layout = undefined; }
    if (typeof layout === 'number' && layout > CACHE_LAYOUT) {
      if (!noted.has(this.root)) { noted.add(this.root); note(`the cache at ${this.root} was written by a newer ocimake (layout ${layout}; this one knows ${CACHE_LAYOUT}): what this one does not know is ignored, not changed`); }
      return;
    }
    if (layout === CACHE_LAYOUT) return;
    // A new cache, or one from before cache.json (layout 1 as well): named now. Backup tools skip a directory with CACHEDIR.TAG.
    try {
      writeFileSync(file, `${JSON.stringify({ layout: CACHE_LAYOUT })}\n`);
      if (!existsSync(join(this.root, 'CACHEDIR.TAG'))) writeFileSync(join(this.root, 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n# This is the cache of ocimake (https://github.com/ocimake/ocimake); it can be removed.\n');
    } catch {
      /* a read-only cache is read as it is */
    }
  }
}
