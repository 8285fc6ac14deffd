import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';
import type { MergedFs } from '../image/merged-fs.js';

/** What is known of one path of a stage's filesystem. */
export interface PathInfo {
  type: LayerEntry['type'];
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
}

/**
 * The paths a stage's layers have written so far, so that later instructions know whether a
 * destination is an existing directory and re-emit parent directories with their real
 * metadata. Base-image paths come from `fallback` (the image's filesystem view).
 */
export class FsState {
  readonly #paths: Map<string, PathInfo>;
  readonly #base: BaseView | undefined;

  constructor(base?: MergedFs, paths?: Map<string, PathInfo>, view?: BaseView) {
    this.#base = view ?? (base ? new BaseView(base) : undefined);
    this.#paths = paths ?? new Map();
  }

  /** Looks up paths (and their parents) in the base image, so that `get` knows them. */
  async ensure(paths: Iterable<string>): Promise<void> {
    if (!this.#base) return;
    const all = new Set<string>();
    for (const p of paths) {
      const n = normalizeEntryPath(p);
      const segs = n.split('/');
      for (let i = 1; i <= segs.length; i++) all.add(segs.slice(0, i).join('/'));
    }
    for (const p of all) if (p !== '' && !this.#paths.has(p)) await this.#base.load(p);
  }

  /** The real directory a path names in the base (following symlinks), for destinations like /bin on merged-/usr images. */
  async realDir(path: string): Promise<string> {
    const n = normalizeEntryPath(path);
    if (!this.#base || this.#paths.has(n)) return n;
    return this.#base.realDir(n);
  }

  /** The info of an absolute or relative in-image path, if it exists. */
  get(path: string): PathInfo | undefined {
    const p = normalizeEntryPath(path);
    if (p === '') return { type: 'directory', mode: 0o755, uid: 0, gid: 0 };
    return this.#paths.get(p) ?? this.#base?.get(p);
  }

  isDirectory(path: string): boolean {
    return this.get(path)?.type === 'directory';
  }

  /** A copy with the entries of a new layer applied. */
  with(entries: readonly LayerEntry[]): FsState {
    const next = new Map(this.#paths);
    for (const e of entries) {
      const info: PathInfo = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid };
      if (e.type === 'symlink' || e.type === 'hardlink') info.linkname = e.linkname;
      next.set(normalizeEntryPath(e.path), info);
    }
    return new FsState(undefined, next, this.#base);
  }

  /** The entry to write for a parent directory: its existing metadata, or 0755 owned as given. */
  parentEntry(path: string, owner: { uid: number; gid: number } = { uid: 0, gid: 0 }): LayerEntry {
    const info = this.get(path);
    if (info?.type === 'directory') return { type: 'directory', path, mode: info.mode, uid: info.uid, gid: info.gid };
    return { type: 'directory', path, mode: 0o755, uid: owner.uid, gid: owner.gid };
  }
}

/** What is known of the base image's paths, looked up lazily and cached (the base never changes). */
class BaseView {
  readonly #cache = new Map<string, PathInfo | null>();
  constructor(readonly fs: MergedFs) {}

  get(path: string): PathInfo | undefined {
    return this.#cache.get(path) ?? undefined;
  }

  async load(path: string): Promise<void> {
    if (this.#cache.has(path)) return;
    const hit = await this.fs.lookup(path, false);
    if (!hit || hit.path !== path) { this.#cache.set(path, null); return; }
    const e = hit.entry.entry;
    const info: PathInfo = { type: e.type === 'symlink' || e.type === 'hardlink' || e.type === 'directory' || e.type === 'file' ? e.type : 'file', mode: e.mode, uid: e.uid, gid: e.gid };
    if (e.linkname !== undefined) info.linkname = e.linkname;
    this.#cache.set(path, info);
  }

  async realDir(path: string): Promise<string> {
    const hit = await this.fs.lookup(path, true);
    return hit && hit.entry.entry.type === 'directory' ? hit.path : path;
  }
}
