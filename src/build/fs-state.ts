import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';

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
  readonly #fallback: ((path: string) => PathInfo | undefined) | undefined;

  constructor(fallback?: (path: string) => PathInfo | undefined, paths?: Map<string, PathInfo>) {
    this.#fallback = fallback;
    this.#paths = paths ?? new Map();
  }

  /** The info of an absolute or relative in-image path, if it exists. */
  get(path: string): PathInfo | undefined {
    const p = normalizeEntryPath(path);
    if (p === '') return { type: 'directory', mode: 0o755, uid: 0, gid: 0 };
    return this.#paths.get(p) ?? this.#fallback?.(p);
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
    return new FsState(this.#fallback, next);
  }

  /** The entry to write for a parent directory: its existing metadata, or 0755 owned as given. */
  parentEntry(path: string, owner: { uid: number; gid: number } = { uid: 0, gid: 0 }): LayerEntry {
    const info = this.get(path);
    if (info?.type === 'directory') return { type: 'directory', path, mode: info.mode, uid: info.uid, gid: info.gid };
    return { type: 'directory', path, mode: 0o755, uid: owner.uid, gid: owner.gid };
  }
}
