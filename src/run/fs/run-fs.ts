import { mkdirSync, promises as fs, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MergedEntry, MergedFs } from '../../image/merged-fs.js';
import type { TarEntry } from '../../layer/layer-reader.js';
import { RunError } from '../errors.js';
import { limit } from '../../util/limits.js';
import { LARGE_TREE, largeTree } from '../../util/heap.js';

export interface Meta { mode: number; uid: number; gid: number }

/** A regular file's inode: its metadata and its bytes (in memory, or still in a lower layer). Hardlinks share one. */
export class Inode {
  data: Buffer | null;
  /** Where the bytes are when they were too large to keep in memory (see RunFs.set): a file in the build's scratch directory. */
  spill?: { path: string; size: number };
  constructor(public meta: Meta, data: Buffer | null, public lower?: MergedEntry) {
    // Empty files share one empty buffer (each of its own is 200 bytes: a RUN that touches 100,000 files held 20 MB of them).
    this.data = data !== null && data.length === 0 ? EMPTY : data;
  }

  /** The file's size, wherever its bytes are. */
  get size(): number {
    return this.data?.length ?? this.spill?.size ?? this.lower?.entry.size ?? 0;
  }

  /** A new inode with the same bytes (cp, mv across an inode). */
  copy(meta: Meta): Inode {
    const c = new Inode(meta, this.data, this.lower);
    if (this.spill) c.spill = this.spill;
    return c;
  }
}

/** Files a RUN writes past this size are kept on disk in the scratch directory, not in memory. */
export const SPILL_AT = 8 * 2 ** 20;
let spillSeq = 0;

const EMPTY = Buffer.alloc(0);

export type Node =
  | { type: 'file'; ino: Inode }
  | { type: 'directory'; meta: Meta; /** lower children are hidden (the directory was removed and made again) */ opaque: boolean }
  | { type: 'symlink'; meta: Meta; target: string }
  /** Devices and FIFOs from a lower layer: kept, never made by RUN. */
  | { type: 'other'; meta: Meta; entry: TarEntry };

const MAX_LINKS = 40;

export const parentOf = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
export const baseOf = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
export const joinPath = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);

function fromLower(m: MergedEntry): Node {
  const e = m.entry;
  const meta = { mode: e.mode & 0o7777, uid: e.uid, gid: e.gid };
  switch (e.type) {
    case 'directory': return { type: 'directory', meta, opaque: false };
    case 'symlink': return { type: 'symlink', meta, target: e.linkname ?? '' };
    case 'file': return { type: 'file', ino: new Inode(meta, null, m) };
    case 'hardlink': return { type: 'file', ino: new Inode(meta, null, m) };
    default: return { type: 'other', meta, entry: e };
  }
}

/**
 * The filesystem a RUN sees: a copy-on-write view over the stage's merged filesystem. Reads
 * fall through to the layers below; every change is kept in memory (`overlay`, where `null`
 * means removed) until the RUN ends and `changes` turns it into one layer. Paths are
 * canonical: relative to the root, `/`-separated, no leading `/`, symlinks resolved inside
 * the root only, as MergedFs does.
 */
const UNKNOWN = Symbol('unknown');

export class RunFs {
  readonly overlay = new Map<string, Node | null>();
  readonly #lowerCache = new Map<string, Node | null>();
  readonly #lowerChildren = new Map<string, string[]>();
  readonly #bytes = new Map<MergedEntry, Buffer>();
  /** Paths under these are scratch (RUN --mount=type=cache): usable, never part of the layer. */
  readonly excluded: string[] = [];
  /** Read-only bind mounts: a change at or under one fails as on a read-only mount. */
  readonly readonly: string[] = [];

  #writable(path: string): void {
    if (this.readonly.some((r) => path === r || path.startsWith(`${r}/`))) throw new RunError(`can't write /${path}: Read-only file system`);
  }
  readonly #maxPath = limit('pathLength');

  constructor(readonly lower: MergedFs, readonly scratch: string) {}

  /** How many overlay entries can hide what is below them: removals, non-directories, opaque directories. */
  #hiders = 0;

  #hides(n: Node | null | undefined): number {
    return n === null || (n !== undefined && (n.type !== 'directory' || n.opaque)) ? 1 : 0;
  }

  /** The overlay's names by directory, so readdir and remove cost what they touch, not the whole overlay. */
  readonly #children = new Map<string, Set<string>>();

  #put(path: string, node: Node | null): void {
    this.#hiders += this.#hides(node) - this.#hides(this.overlay.get(path));
    if (path !== '' && !this.overlay.has(path)) {
      const dir = parentOf(path);
      let names = this.#children.get(dir);
      if (!names) this.#children.set(dir, (names = new Set()));
      names.add(baseOf(path));
    }
    this.overlay.set(path, node);
    // A RUN that makes a large tree (tar -x, a loop of touch) gets the memory regime COPY gets.
    if (this.overlay.size === LARGE_TREE) largeTree();
  }

  /** Drops every overlay entry below `path` (not `path` itself). */
  #dropBelow(path: string): void {
    const names = this.#children.get(path);
    if (!names) return;
    this.#children.delete(path);
    for (const n of names) {
      const p = joinPath(path, n);
      this.#dropBelow(p);
      this.#hiders -= this.#hides(this.overlay.get(p));
      this.overlay.delete(p);
    }
  }

  /** Throws busybox's ENAMETOOLONG for a path past pathLength (Linux's PATH_MAX is 4096 too). */
  checkLength(abs: string): void {
    if (abs.length > this.#maxPath && Buffer.byteLength(abs) > this.#maxPath) throw new RunError(`${abs.slice(0, 40)}…: File name too long`);
  }

  /** True when what the lower layers have at `path` is hidden by the overlay (a removed or replaced ancestor). */
  #lowerHidden(path: string): boolean {
    if (this.#hiders === 0) return false;
    for (let p = parentOf(path); ; p = parentOf(p)) {
      if (this.#hides(this.overlay.get(p))) return true;
      if (p === '') return false;
    }
  }

  /**
   * True when the layers below are known to have nothing at `path` (as the overlay leaves
   * them visible): looked up before and missing, or under a missing or non-directory path.
   * Lets the new paths of a RUN (a tree it makes) skip the lookup below, and its cache.
   */
  #lowerAbsent(path: string): boolean {
    for (let p = path; p !== ''; p = parentOf(p)) {
      const n = this.#lowerCache.get(p);
      if (n === null) return true;
      if (n !== undefined) return n.type !== 'directory' && p !== path;
    }
    return false;
  }

  /** Looks `path` up in the layers below and remembers the answer (for when nothing known answers it). */
  async #lookupBelow(path: string): Promise<Node | null> {
    const hit = await this.lower.lookup(path, false);
    const n = hit && hit.path === path ? fromLower(hit.entry) : null;
    this.#lowerCache.set(path, n);
    return n;
  }

  /** What `at` answers when it can without a lookup below; UNKNOWN when it cannot. */
  #atKnown(path: string): Node | undefined | typeof UNKNOWN {
    if (path === '') return this.overlay.get('') ?? { type: 'directory', meta: { mode: 0o755, uid: 0, gid: 0 }, opaque: false };
    const o = this.overlay.get(path);
    if (o !== undefined) return o ?? undefined;
    if (this.#lowerHidden(path)) return undefined;
    const n = this.#lowerCache.get(path);
    if (n !== undefined) return n ?? undefined;
    return this.#lowerAbsent(parentOf(path)) ? undefined : UNKNOWN;
  }

  /** What is at a canonical path itself (not followed). */
  async at(path: string): Promise<Node | undefined> {
    const k = this.#atKnown(path);
    return k === UNKNOWN ? (await this.#lookupBelow(path)) ?? undefined : k;
  }

  /**
   * Resolves an absolute in-image path: parents are followed through symlinks inside the
   * root, the last component only when `followLast`. Missing components are kept as written.
   * Each step costs a map lookup where the answer is known (no promise, no join of the path so far).
   */
  async resolve(abs: string, followLast: boolean): Promise<{ path: string; node: Node | undefined }> {
    this.checkLength(abs);
    let pending = abs.split('/').filter((s) => s !== '' && s !== '.');
    let next = 0;
    let cur = '';
    /** Where each component of `cur` starts, for `..`. */
    const starts: number[] = [];
    let links = 0;
    let k: Node | undefined | typeof UNKNOWN;
    let node = this.#atKnown('') as Node | undefined;
    while (next < pending.length) {
      const seg = pending[next++]!;
      if (seg === '..') {
        const s = starts.pop();
        if (s !== undefined) cur = cur.slice(0, Math.max(0, s - 1));
        node = (k = this.#atKnown(cur)) === UNKNOWN ? (await this.#lookupBelow(cur)) ?? undefined : k;
        continue;
      }
      const p = cur === '' ? seg : `${cur}/${seg}`;
      node = (k = this.#atKnown(p)) === UNKNOWN ? (await this.#lookupBelow(p)) ?? undefined : k;
      if (node?.type === 'symlink' && (next < pending.length || followLast)) {
        if (++links > MAX_LINKS) throw new RunError(`${abs}: too many levels of symbolic links`);
        pending = [...node.target.split('/').filter((x) => x !== '' && x !== '.'), ...pending.slice(next)];
        next = 0;
        if (node.target.startsWith('/')) { cur = ''; starts.length = 0; }
        node = (k = this.#atKnown(cur)) === UNKNOWN ? (await this.#lookupBelow(cur)) ?? undefined : k;
        continue;
      }
      if (next < pending.length && node !== undefined && node.type !== 'directory') {
        throw new RunError(`${abs}: Not a directory`);
      }
      starts.push(cur === '' ? 0 : cur.length + 1);
      cur = p;
    }
    this.checkLength(cur);
    return { path: cur, node };
  }

  /** The names in a directory (canonical path), sorted. */
  async readdir(dir: string): Promise<string[]> {
    const names = new Set<string>();
    const self = this.overlay.get(dir);
    if (!this.#lowerHidden(dir === '' ? 'x' : `${dir}/x`) && !(self && self.type === 'directory' && self.opaque)) {
      let lower = this.#lowerChildren.get(dir);
      if (!lower) {
        lower = [];
        const prefix = dir === '' ? '' : `${dir}/`;
        for (const m of await this.lower.descendants(dir)) {
          const rest = m.entry.path.slice(prefix.length);
          if (m.entry.path.startsWith(prefix) && rest !== '' && !rest.includes('/')) lower.push(rest);
        }
        this.#lowerChildren.set(dir, lower);
      }
      for (const n of lower) names.add(n);
    }
    for (const rest of this.#children.get(dir) ?? []) {
      if (this.overlay.get(joinPath(dir, rest)) === null) names.delete(rest);
      else names.add(rest);
    }
    return [...names].sort();
  }

  /** The bytes of a file node. */
  async bytes(node: Extract<Node, { type: 'file' }>): Promise<Buffer> {
    const ino = node.ino;
    if (ino.data) return ino.data;
    // Large bytes are read again on each use and not kept: the RUN holds only what it works on.
    if (ino.spill) return fs.readFile(ino.spill.path);
    const m = ino.lower!;
    let b = this.#bytes.get(m);
    if (!b) {
      b = await this.lower.contentOf(m);
      if (b.length <= SPILL_AT) this.#bytes.set(m, b);
    }
    return b;
  }

  set(path: string, node: Node): void {
    this.#writable(path);
    if (path === '') {
      if (node.type !== 'directory') throw new RunError('cannot replace the root directory');
    }
    if (node.type === 'file' && node.ino.data && node.ino.data.length > SPILL_AT) this.#spill(node.ino);
    this.#put(path, node);
  }

  /** Moves an inode's bytes to a file of the scratch directory (removed with it when the build ends). */
  #spill(ino: Inode): void {
    const data = ino.data!;
    mkdirSync(this.scratch, { recursive: true });
    const path = join(this.scratch, `run-spill-${process.pid}-${spillSeq++}`);
    writeFileSync(path, data, { mode: 0o600 });
    ino.spill = { path, size: data.length };
    ino.data = null;
    ino.lower = undefined;
  }

  /** Removes a path and everything below it. A lower directory made again later becomes opaque. */
  async remove(path: string): Promise<void> {
    this.#writable(path);
    this.#dropBelow(path);
    this.#put(path, null);
  }

  /** Makes a directory where nothing is (after a removal, it hides whatever the lower layers had there). */
  async makeDir(path: string, meta: Meta): Promise<void> {
    this.#writable(path);
    const wasRemoved = this.overlay.get(path) === null;
    const lowerHad = wasRemoved && !this.#lowerHidden(path) && (await this.lower.lookup(path, false))?.path === path;
    this.#put(path, { type: 'directory', meta, opaque: lowerHad });
  }

  /** True when the lower layers (as the overlay leaves them visible) have something at `path`. */
  async lowerHas(path: string): Promise<boolean> {
    if (this.#lowerHidden(path)) return false;
    const hit = await this.lower.lookup(path, false);
    return hit !== undefined && hit.path === path;
  }
}
