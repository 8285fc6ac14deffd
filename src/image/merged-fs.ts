import { createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { OcimakeError } from '../errors.js';
import { readLayer, type TarEntry } from '../layer/layer-reader.js';
import { classifyWhiteout } from '../layer/whiteout.js';
import type { Image } from './image.js';

/** An entry of the merged filesystem and the layer (index, bottom = 0) it comes from. */
export interface MergedEntry { entry: TarEntry; layer: number }

const MAX_LINKS = 40;

function parentsOf(path: string): string[] {
  const segs = path.split('/');
  return segs.slice(0, -1).map((_, i) => segs.slice(0, i + 1).join('/'));
}

/**
 * The merged filesystem of an image, read lazily from the top layer down (OCI whiteouts and
 * opaque directories applied). Lookups stop reading layers as soon as what was asked is
 * fully known, so a file in an upper layer never downloads the layers below it.
 */
export class MergedFs {
  readonly #image: Image;
  readonly #what: string;
  readonly #seen = new Map<string, MergedEntry>();
  readonly #whited = new Set<string>();
  readonly #opaque = new Set<string>();
  #next: number;
  /** How many layer blobs were opened (each may mean a download). */
  layersOpened = 0;

  constructor(image: Image, what = 'image') {
    this.#image = image;
    this.#what = what;
    this.#next = image.layers.length - 1;
  }

  get complete(): boolean {
    return this.#next < 0;
  }

  #hidden(path: string): boolean {
    if (this.#seen.has(path) || this.#whited.has(path)) return true;
    for (const p of parentsOf(path)) {
      if (this.#whited.has(p) || this.#opaque.has(p)) return true;
      const e = this.#seen.get(p);
      if (e && e.entry.type !== 'directory') return true;
    }
    return false;
  }

  /** Reads the next lower layer's headers into the index. */
  async #readNext(): Promise<void> {
    const i = this.#next--;
    const layer = this.#image.layers[i]!;
    this.layersOpened++;
    const whiteouts: string[] = [];
    const opaques: string[] = [];
    const links = new Set<string>();
    for await (const { entry, body } of readLayer(await layer.source.open(layer.descriptor.digest), `${this.#what} layer ${i + 1} (${layer.descriptor.digest.slice(7, 19)})`)) {
      body.resume();
      const w = classifyWhiteout(entry.path);
      if (w.kind === 'whiteout') { whiteouts.push(w.target); continue; }
      if (w.kind === 'opaque') { opaques.push(w.dir); continue; }
      const through = parentsOf(entry.path).find((p) => links.has(p));
      if (through !== undefined) {
        throw new OcimakeError('LAYER_UNSAFE', `${this.#what} layer ${i}: entry "${entry.path}" is written through the symlink "${through}"`, { hint: 'the layer is malformed or hostile; it is refused' });
      }
      if (entry.type === 'symlink') links.add(entry.path);
      if (!this.#hidden(entry.path)) this.#seen.set(entry.path, { entry, layer: i });
    }
    // A layer's whiteouts hide only the layers below it.
    for (const t of whiteouts) if (!this.#seen.has(t) || this.#seen.get(t)!.layer < i) this.#whited.add(t);
    for (const d of opaques) this.#opaque.add(d);
  }

  /**
   * Resolves an in-image path, following symlinks inside the image root (never on the host;
   * `..` stops at `/`). Returns the final path and its entry, or undefined when absent.
   */
  async lookup(path: string, followLast = true): Promise<{ path: string; entry: MergedEntry } | undefined> {
    for (;;) {
      const r = this.#resolve(path, followLast);
      if (r.state === 'found') return { path: r.path, entry: r.entry };
      if (r.state === 'missing' || this.complete) return undefined;
      await this.#readNext();
    }
  }

  #resolve(input: string, followLast: boolean): { state: 'found'; path: string; entry: MergedEntry } | { state: 'missing' | 'unknown' } {
    let pending = input.split('/').filter((s) => s !== '' && s !== '.');
    let cur: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const seg = pending.shift()!;
      if (seg === '..') { cur.pop(); continue; }
      const p = [...cur, seg].join('/');
      const e = this.#seen.get(p);
      if (!e) {
        if (this.#hidden(p) || this.complete) return { state: 'missing' };
        return { state: 'unknown' };
      }
      if (e.entry.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++links > MAX_LINKS) throw new OcimakeError('SYMLINK_LOOP', `${this.#what}: too many levels of symbolic links resolving ${input}`);
        const target = e.entry.linkname ?? '';
        pending = [...target.split('/').filter((s) => s !== '' && s !== '.'), ...pending];
        if (target.startsWith('/')) cur = [];
        continue;
      }
      if (pending.length > 0 && e.entry.type !== 'directory') return { state: 'missing' };
      cur = [...cur, seg];
    }
    const path = cur.join('/');
    if (path === '') return { state: 'found', path, entry: { entry: { path: '', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 }, layer: -1 } };
    const e = this.#seen.get(path)!;
    return { state: 'found', path, entry: e };
  }

  /** Every entry below a directory (all layers read first, since any layer may add to it). */
  async descendants(dir: string): Promise<MergedEntry[]> {
    while (!this.complete && !this.#opaque.has(dir)) await this.#readNext();
    const prefix = dir === '' ? '' : `${dir}/`;
    return [...this.#seen.entries()].filter(([p]) => p.startsWith(prefix) && p !== dir).sort(([a], [b]) => (a < b ? -1 : 1)).map(([, e]) => e);
  }

  /** Streams the contents of the given regular-file entries into `scratch`, one pass per layer; returns path → temp file. */
  async spool(entries: readonly MergedEntry[], scratch: string): Promise<Map<string, string>> {
    await fs.mkdir(scratch, { recursive: true });
    const out = new Map<string, string>();
    const byLayer = new Map<number, Set<string>>();
    for (const e of entries) {
      if (e.entry.type !== 'file') continue;
      const set = byLayer.get(e.layer) ?? new Set();
      set.add(e.entry.path);
      byLayer.set(e.layer, set);
    }
    let n = 0;
    for (const [i, wanted] of byLayer) {
      const layer = this.#image.layers[i]!;
      for await (const { entry, body } of readLayer(await layer.source.open(layer.descriptor.digest), `${this.#what} layer ${i + 1} (${layer.descriptor.digest.slice(7, 19)})`)) {
        if (entry.type === 'file' && wanted.has(entry.path)) {
          const tmp = join(scratch, `f${n++}`);
          await pipeline(body, createWriteStream(tmp, { mode: 0o600 }));
          out.set(`${i}:${entry.path}`, tmp);
        } else body.resume();
      }
    }
    return out;
  }
}
