import { work } from '../util/work.js';
import { collectIfGrown } from '../util/heap.js';
import { createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { quoteName } from '../util/quote.js';
import { OcimakeError, withContext } from '../errors.js';
import { parentsNearestFirst, SMALL_FILE, type LayerEntry } from '../layer/entry.js';
import { checkLayerEntry, readLayer, type TarEntry } from '../layer/layer-reader.js';
import { classifyWhiteout } from '../layer/whiteout.js';
import type { Image } from './image.js';

/**
 * An entry of the merged filesystem and the layer (index, bottom = 0) it comes from. A
 * hardlink carries the file it was linked to in its own layer (`linkTarget`), so it keeps
 * that content when the other name is later replaced or deleted (an inode group per layer).
 * `implicit` marks a directory no layer listed but a deeper path needs.
 */
export interface MergedEntry { entry: TarEntry; layer: number; implicit?: boolean; linkTarget?: { layer: number; entry: TarEntry } }

const MAX_LINKS = 40;
/** What `contentOf` keeps of the files it reads past: files of at most NEARBY_FILE bytes, NEARBY_BUDGET in all per image. */
const NEARBY_FILE = 256 * 1024;
const NEARBY_BUDGET = 32 * 2 ** 20;
const EMPTY = Buffer.alloc(0);

const implicitDir = (path: string): TarEntry => ({ path, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 });

/** The layers a build wrote on top, merged bottom-up: entries (null: deleted), and what they hide below. */
interface Upper {
  entries: Map<string, MergedEntry | null>;
  /** Paths whose lower entry (and everything below it) is hidden: deleted, or replaced by a non-directory. */
  goneSelf: Set<string>;
  /** Directories whose lower children are hidden (opaque). */
  goneBelow: Set<string>;
}

/** What is known of the read-only layers below, shared by every view of the same image. */
class LowerIndex {
  readonly seen = new Map<string, MergedEntry>();
  /** A whiteout of a path, by the highest layer that has it: hides that path in every lower layer. */
  readonly whitedBelow = new Map<string, number>();
  /** An opaque directory, by the highest layer that marks it: hides its children in every lower layer. */
  readonly opaqueBelow = new Map<string, number>();
  next: number;
  /** Layers whose blob was opened (for entries or contents). */
  readonly opened = new Set<number>();
  /**
   * Bodies of small files read past in a pass over a layer for `contentOf`, by layer and path,
   * up to NEARBY_BUDGET bytes in all: a native RUN reads many small base files (apk reads its
   * keys, world, arch and installed database), and each would otherwise cost a pass.
   */
  readonly nearby = new Map<number, Map<string, Buffer>>();
  nearbyLeft = NEARBY_BUDGET;
  constructor(readonly image: Image, readonly what: string, top: number) {
    this.next = top;
  }

  /** True when an entry of layer `layer` at `path` is hidden by what upper layers did. */
  hidden(path: string, layer: number): boolean {
    const w = this.whitedBelow.get(path);
    if (w !== undefined && w > layer) return true;
    return this.#parentHides(path, layer);
  }

  // Answers for parent directories, for one `layer`; what they depend on (whiteouts, opaque
  // markers, entries of higher layers) only changes when a layer has been read, which clears it.
  readonly #parentMemo = new Map<string, boolean>();
  #memoLayer = Number.NaN;

  #parentHides(path: string, layer: number): boolean {
    if (layer !== this.#memoLayer) { this.#parentMemo.clear(); this.#memoLayer = layer; }
    const slash = path.lastIndexOf('/');
    if (slash < 0) return false;
    const p = path.slice(0, slash);
    let known = this.#parentMemo.get(p);
    if (known === undefined) {
      const wp = this.whitedBelow.get(p);
      const o = this.opaqueBelow.get(p);
      const e = this.seen.get(p);
      known = (wp !== undefined && wp > layer) || (o !== undefined && o > layer) || (e !== undefined && e.entry.type !== 'directory' && e.layer > layer) || this.#parentHides(p, layer);
      this.#parentMemo.set(p, known);
    }
    return known;
  }

  /**
   * The entries of a layer: from its entry index when the source keeps one (nothing opened,
   * nothing downloaded), else read from the blob, and then recorded in the index once the
   * whole layer has been read. Both pass the same checks.
   */
  async *#entriesOf(i: number, what: string): AsyncGenerator<TarEntry> {
    const layer = this.image.layers[i]!;
    const index = layer.source.entryIndex;
    const digest = layer.descriptor.digest;
    const recorded = index?.get(digest);
    if (recorded) {
      const check = checkLayerEntry(what);
      for (const raw of recorded) yield check(raw);
      return;
    }
    this.opened.add(i);
    const all: TarEntry[] | undefined = index ? [] : undefined;
    for await (const { entry, body } of readLayer(await layer.source.open(digest), what)) {
      body.resume();
      all?.push(entry);
      yield entry;
    }
    if (all) index!.put(digest, all);
  }

  async readNext(): Promise<void> {
    this.#memoLayer = Number.NaN;
    const i = this.next--;
    const layer = this.image.layers[i]!;
    const whiteouts: string[] = [];
    const opaques: string[] = [];
    const links = new Set<string>();
    // Files of this layer by path, for its hardlinks (tar links name an earlier entry of the same archive).
    const files = new Map<string, TarEntry>();
    // Within a layer the last entry for a path wins, as tar extracts. A non-directory that
    // replaces a path removes what this layer put below it earlier: `killed` keeps, per
    // replaced path, the sequence number of the replacement, and `born` each recorded entry's,
    // so the losers are dropped once the layer is read (nothing to do in the usual layer,
    // which replaces nothing).
    const killed = new Map<string, number>();
    const born = new Map<string, number>();
    let seq = 0;
    const what = `${this.what} layer ${i + 1} (${layer.descriptor.digest.slice(7, 19)})`;
    for await (const entry of this.#entriesOf(i, what)) {
      seq++;
      let w: ReturnType<typeof classifyWhiteout>;
      try { w = classifyWhiteout(entry.path); } catch (err) { throw withContext(what, err); }
      if (w.kind === 'whiteout') { whiteouts.push(w.target); continue; }
      if (w.kind === 'opaque') { opaques.push(w.dir); continue; }
      let through: string | undefined;
      if (links.size > 0) for (const p of parentsNearestFirst(entry.path)) if (links.has(p)) { through = p; break; }
      if (through !== undefined) {
        throw new OcimakeError('LAYER_UNSAFE', `${what}: entry ${quoteName(entry.path)} is written through the symlink ${quoteName(through)}`, { hint: 'the layer is malformed or hostile; it is refused' });
      }
      if (entry.type === 'symlink') links.add(entry.path);
      else links.delete(entry.path);
      let linkTarget: MergedEntry['linkTarget'];
      if (entry.type === 'hardlink') {
        const t = files.get(entry.linkname ?? '');
        if (!t) {
          throw new OcimakeError('LAYER_UNSAFE', `${what}: hardlink ${quoteName(entry.path)} points at ${quoteName(entry.linkname ?? '')}, which is not a regular file earlier in the layer`, { hint: 'the layer is malformed or hostile; it is refused' });
        }
        files.set(entry.path, t);
        linkTarget = { layer: i, entry: t };
      } else if (entry.type === 'file') files.set(entry.path, entry);
      else files.delete(entry.path);
      if (entry.type !== 'directory' && born.has(entry.path)) killed.set(entry.path, seq);
      if (this.hidden(entry.path, i)) continue;
      const prev = this.seen.get(entry.path);
      if (!prev || (prev.implicit && entry.type === 'directory') || (prev.layer === i && !prev.implicit)) {
        this.seen.set(entry.path, { entry, layer: i, ...(linkTarget ? { linkTarget } : {}) });
        born.set(entry.path, seq);
        // A non-directory of this layer hides paths below it for the layers under it: answers
        // remembered for those (asked meanwhile by a lookup) are stale now.
        if (entry.type !== 'directory' && this.#memoLayer !== i) this.#memoLayer = Number.NaN;
      }
      // Parents, nearest first; one already seen has all of its own.
      for (const p of parentsNearestFirst(entry.path)) {
        if (this.seen.has(p)) break;
        if (!this.hidden(p, i)) { this.seen.set(p, { entry: implicitDir(p), layer: i, implicit: true }); born.set(p, seq); }
      }
    }
    // Drop what a later non-directory of this layer replaced: entries below a path killed after they were born.
    if (killed.size > 0) {
      for (const [path, b] of born) {
        for (const parent of parentsNearestFirst(path)) {
          const at = killed.get(parent);
          if (at !== undefined && at > b) { this.seen.delete(path); break; }
        }
      }
    }
    // A layer's whiteouts and opaque markers hide only the layers below it.
    for (const t of whiteouts) this.whitedBelow.set(t, Math.max(this.whitedBelow.get(t) ?? -1, i));
    for (const d of opaques) this.opaqueBelow.set(d, Math.max(this.opaqueBelow.get(d) ?? -1, i));
    this.#memoLayer = Number.NaN;
  }
}

/** A layer on top of `below` not yet merged: its entries, or how to make them. */
interface Pending { below: MergedFs; entries: readonly LayerEntry[] | (() => Promise<readonly LayerEntry[]>); loading?: Promise<readonly LayerEntry[]> }

/**
 * The one filesystem model of an image or a stage: its layers merged as a container would
 * see them. The read-only layers below (a base image, a pulled image) are read lazily from
 * the top down, with OCI whiteouts and opaque directories applied per layer, so a file in an
 * upper layer never downloads the layers below it and a deleted directory that is created
 * again never brings its old children back. Layers a build writes are added on top with
 * `withLayer` from their entries (no re-reading), in a copy-on-write upper view; the lower
 * index is shared. COPY destinations, COPY --from, WORKDIR, /etc/passwd lookups and extract
 * all use this view.
 */
/** Temp files spooled from layers are numbered across all calls (see spoolSources). */
let spoolSeq = 0;

export class MergedFs {
  readonly #lower: LowerIndex;
  #upperState: Upper | undefined;
  /** A layer added by withLayer and not yet merged into the upper view: merged on first use. */
  #pending: Pending | undefined;
  readonly #image: Image;

  constructor(image: Image, what = 'image', shared?: { lower: LowerIndex; upper?: Upper; pending?: Pending }) {
    this.#image = image;
    this.#lower = shared?.lower ?? new LowerIndex(image, what, image.layers.length - 1);
    this.#pending = shared?.pending;
    this.#upperState = shared?.pending ? undefined : shared?.upper ?? { entries: new Map(), goneSelf: new Set(), goneBelow: new Set() };
  }

  get #upper(): Upper {
    if (!this.#upperState) {
      const { below, entries } = this.#pending!;
      if (typeof entries === 'function') throw new OcimakeError('INTERNAL', 'a lazily placed layer was read before it was made');
      this.#upperState = below.#merged(this.#image, entries);
      this.#pending = undefined;
    }
    return this.#upperState;
  }

  /** How many layer blobs were opened (each may mean a download). */
  get layersOpened(): number { return this.#lower.opened.size; }

  /** The blob digest of layer `i` (layers this view's image holds, bottom = 0). */
  layerDigest(i: number): string {
    return this.#image.layers[i]!.descriptor.digest;
  }

  get complete(): boolean {
    return this.#lower.next < 0;
  }

  /**
   * The view after a layer that `image` (this image plus that layer, on top) adds, from the
   * entries the layer was written from. Whiteouts (`.wh.x`, `.wh..wh..opq`) delete as in
   * the image spec. This view is unchanged.
   */
  withLayer(image: Image, entries: readonly LayerEntry[]): MergedFs {
    // Merged when the new view is first asked something: the last layer of a build, often the
    // only one, is never asked, and its 100,000 entries need not be copied into a second form.
    return new MergedFs(image, this.#lower.what, { lower: this.#lower, pending: { below: this, entries } });
  }

  /**
   * As withLayer, for a layer whose entries are made only if the view is asked something: a
   * step the step cache answered (its layer is known; its entries are planned only if a later
   * step reads the filesystem).
   */
  withLazyLayer(image: Image, entries: () => Promise<readonly LayerEntry[]>): MergedFs {
    return new MergedFs(image, this.#lower.what, { lower: this.#lower, pending: { below: this, entries } });
  }

  /** Makes the entries of lazily placed layers, this view's and those below it. */
  async #ready(): Promise<void> {
    const p = this.#pending;
    if (!p) return;
    await p.below.#ready();
    if (typeof p.entries !== 'function') return;
    p.loading ??= p.entries();
    const entries = await p.loading;
    if (this.#pending === p) this.#pending = { below: p.below, entries };
  }

  /** This view's upper layers with one more on top (layer index: the top of `image`). */
  #merged(image: Image, entries: readonly LayerEntry[]): Upper {
    const layer = image.layers.length - 1;
    const upper: Upper = { entries: new Map(this.#upper.entries), goneSelf: new Set(this.#upper.goneSelf), goneBelow: new Set(this.#upper.goneBelow) };
    const removeBelow = (dir: string) => { const pre = `${dir}/`; for (const k of upper.entries.keys()) if (k.startsWith(pre)) upper.entries.delete(k); };
    const files = new Map<string, TarEntry>(); // this layer's files, for its hardlinks (an inode group per layer)
    for (const e of entries) {
      const w = classifyWhiteout(e.path);
      if (w.kind === 'whiteout') { upper.entries.set(w.target, null); upper.goneSelf.add(w.target); removeBelow(w.target); continue; }
      if (w.kind === 'opaque') { upper.goneBelow.add(w.dir); removeBelow(w.dir); continue; }
      if (e.type !== 'directory') {
        upper.goneSelf.add(e.path);
        // Children in the upper view always come with their parent there, as a directory: only
        // then is there anything below to remove (a scan per entry would be quadratic).
        const prev = upper.entries.get(e.path);
        if (prev && prev.entry.type === 'directory') removeBelow(e.path);
      }
      const entry: TarEntry = { path: e.path, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.type === 'file' ? e.size : 0 };
      if (e.type === 'symlink' || e.type === 'hardlink') entry.linkname = e.linkname;
      if (e.type === 'file') files.set(e.path, entry);
      const target = e.type === 'hardlink' ? files.get(e.linkname) : undefined;
      if (target) files.set(e.path, target);
      upper.entries.set(e.path, { entry, layer, ...(target ? { linkTarget: { layer, entry: target } } : {}) });
      // Parents, nearest first; a directory already in the upper view has all of its own.
      for (const p of parentsNearestFirst(e.path)) {
        const u = upper.entries.get(p);
        if (u && u.entry.type === 'directory') break;
        upper.entries.set(p, { entry: implicitDir(p), layer, implicit: true });
      }
    }
    return upper;
  }

  /** True when the layers written on top hide what the lower layers have at `path`. */
  #upperHides(path: string): boolean {
    return this.#upper.goneSelf.has(path) || this.#parentHidden(path);
  }

  /** Parents' answers, remembered: this view's upper never changes, and deep trees ask for every prefix. */
  readonly #hiddenDirs = new Map<string, boolean>();

  /** True when a parent of `path` is gone, or hides its children (opaque). */
  #parentHidden(path: string): boolean {
    const slash = path.lastIndexOf('/');
    if (slash < 0) return false;
    const parent = path.slice(0, slash);
    let known = this.#hiddenDirs.get(parent);
    if (known === undefined) {
      known = this.#upper.goneSelf.has(parent) || this.#upper.goneBelow.has(parent) || this.#parentHidden(parent);
      this.#hiddenDirs.set(parent, known);
    }
    return known;
  }

  /** What one path is, without following it: found, missing, or unknown until more lower layers are read. */
  #entryAt(p: string): MergedEntry | 'missing' | 'unknown' {
    const u = this.#upper.entries.get(p);
    if (u === null) return 'missing';
    if (u && !u.implicit) return u;
    if (this.#upperHides(p)) return u ?? 'missing';
    const e = this.#lower.seen.get(p);
    if (e && !e.implicit) return u && e.entry.type !== 'directory' ? u : e;
    if (this.complete || this.#lower.hidden(p, this.#lower.next)) return e ?? u ?? 'missing';
    return 'unknown';
  }

  /**
   * Resolves an in-image path, following symlinks inside the image root (never on the host;
   * `..` stops at `/`). Returns the final path and its entry, or undefined when absent.
   */
  async lookup(path: string, followLast = true): Promise<{ path: string; entry: MergedEntry } | undefined> {
    await this.#ready();
    for (;;) {
      const r = this.#resolve(path, followLast);
      if (r.state === 'found') return { path: r.path, entry: r.entry };
      if (r.state === 'missing' || this.complete) return undefined;
      await this.#lower.readNext();
    }
  }

  /**
   * The real path of a destination, as BuildKit resolves one inside the root: every parent
   * component is followed through symlinks (whoever wrote them, dangling ones included), the
   * last one only when `followLast` is set and it leads to a directory. Components that do not
   * exist are kept as written; `..` stops at `/`.
   */
  async realPath(path: string, followLast: boolean, base = ''): Promise<string> {
    // `base` is a real path this method returned (placeEntries passes a parent's): only `path`,
    // relative to it, is walked. The current path is one string, never split or joined again,
    // so a path's cost grows with its number of components, not with its length times that.
    await this.#ready();
    const segsOf = (p: string) => p.split('/').filter((s) => s !== '' && s !== '.');
    let pending = segsOf(path);
    let curPath = base;
    let links = 0;
    while (pending.length > 0) {
      work.resolveSteps++;
      const seg = pending.shift()!;
      if (seg === '..') { curPath = curPath.slice(0, Math.max(0, curPath.lastIndexOf('/'))); continue; }
      const p = curPath === '' ? seg : `${curPath}/${seg}`;
      const last = pending.length === 0;
      if (!last || followLast) {
        const e = await this.#entryAtLoaded(p);
        if (e !== 'missing' && e.entry.type === 'symlink') {
          if (++links > MAX_LINKS) throw new OcimakeError('SYMLINK_LOOP', `${this.#lower.what}: too many levels of symbolic links resolving ${path}`);
          const target = e.entry.linkname ?? '';
          if (last) {
            const to = await this.lookup(p, true);
            if (!to || to.entry.entry.type !== 'directory') { curPath = p; continue; }
          }
          pending = [...segsOf(target), ...pending];
          if (target.startsWith('/')) curPath = '';
          continue;
        }
      }
      curPath = p;
    }
    return curPath;
  }

  /** What a real path (no symlink among its parents) is, reading lower layers until it is known. */
  async #entryAtLoaded(p: string): Promise<MergedEntry | 'missing'> {
    for (;;) {
      const e = this.#entryAt(p);
      if (e !== 'unknown') return e;
      if (this.complete) return 'missing';
      await this.#lower.readNext();
    }
  }

  /** The entry at `path` itself (parents followed, the last component not), or undefined. */
  async stat(path: string): Promise<TarEntry | undefined> {
    return (await this.lookup(path, false))?.entry.entry;
  }

  /**
   * The entry at a real path (one realPath returned, or a parent of one: no component is a
   * symlink), looked up directly instead of walked component by component.
   */
  async statReal(path: string): Promise<TarEntry | undefined> {
    if (path === '') return implicitDir('');
    await this.#ready();
    const e = await this.#entryAtLoaded(path);
    return e === 'missing' ? undefined : e.entry;
  }

  /** True when `path` (followed) is a directory. */
  async isDirectory(path: string): Promise<boolean> {
    return (await this.lookup(path, true))?.entry.entry.type === 'directory';
  }

  #resolve(input: string, followLast: boolean): { state: 'found'; path: string; entry: MergedEntry } | { state: 'missing' | 'unknown' } {
    let pending = input.split('/').filter((s) => s !== '' && s !== '.');
    let cur: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      work.resolveSteps++;
      const seg = pending.shift()!;
      if (seg === '..') { cur.pop(); continue; }
      const p = cur.length === 0 ? seg : `${cur.join('/')}/${seg}`;
      const e = this.#entryAt(p);
      if (e === 'missing' || e === 'unknown') return { state: e };
      if (e.entry.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++links > MAX_LINKS) throw new OcimakeError('SYMLINK_LOOP', `${this.#lower.what}: too many levels of symbolic links resolving ${input}`);
        const target = e.entry.linkname ?? '';
        pending = [...target.split('/').filter((s) => s !== '' && s !== '.'), ...pending];
        if (target.startsWith('/')) cur = [];
        continue;
      }
      if (pending.length > 0 && e.entry.type !== 'directory') return { state: 'missing' };
      cur.push(seg);
    }
    const path = cur.join('/');
    if (path === '') return { state: 'found', path, entry: { entry: implicitDir(''), layer: -1 } };
    const e = this.#entryAt(path);
    return typeof e === 'string' ? { state: e } : { state: 'found', path, entry: e };
  }

  /** Every entry below a directory (all lower layers read first, since any may add to it), sorted by path. */
  async descendants(dir: string): Promise<MergedEntry[]> {
    await this.#ready();
    while (!this.complete && !this.#lower.opaqueBelow.has(dir) && !this.#upper.goneBelow.has(dir) && !this.#upper.goneSelf.has(dir)) await this.#lower.readNext();
    const prefix = dir === '' ? '' : `${dir}/`;
    const out = new Map<string, MergedEntry>();
    let n = 0;
    for (const [p, e] of this.#lower.seen) {
      if ((++n & 4095) === 0) collectIfGrown();
      if (!p.startsWith(prefix) || p === dir || this.#upperHides(p)) continue;
      const u = this.#upper.entries.get(p);
      if (u === undefined || (u?.implicit && e.entry.type === 'directory')) out.set(p, e);
    }
    for (const [p, u] of this.#upper.entries) {
      if (u && p.startsWith(prefix) && p !== dir && !out.has(p)) out.set(p, u);
    }
    return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, e]) => e);
  }

  /**
   * The bytes of one regular file or hardlink entry, in memory. The pass over its layer also
   * keeps the small files it reads past (see LowerIndex.nearby), so the next such read of
   * that layer is answered without another pass.
   */
  async contentOf(m: MergedEntry): Promise<Buffer> {
    const [layer, path] = m.entry.type === 'hardlink' && m.linkTarget ? [m.linkTarget.layer, m.linkTarget.entry.path] : [m.layer, m.entry.path];
    const low = this.#lower;
    const hit = low.nearby.get(layer)?.get(path);
    if (hit) return hit;
    let kept = low.nearby.get(layer);
    if (!kept) low.nearby.set(layer, (kept = new Map()));
    let found: Buffer | undefined;
    const l = this.#image.layers[layer]!;
    low.opened.add(layer);
    for await (const { entry, body } of readLayer(await l.source.open(l.descriptor.digest), `${low.what} layer ${layer + 1} (${l.descriptor.digest.slice(7, 19)})`)) {
      // The last entry for a path wins within a layer, as tar extracts.
      const before = kept.get(entry.path);
      if (before) { kept.delete(entry.path); low.nearbyLeft += before.length; }
      const wanted = entry.path === path;
      const keep = entry.type === 'file' && entry.size <= NEARBY_FILE && entry.size <= low.nearbyLeft;
      if (entry.type !== 'file' || (!wanted && !keep)) { body.resume(); continue; }
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      const data = chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (wanted) found = data;
      if (keep) { kept.set(entry.path, data); low.nearbyLeft -= data.length; }
    }
    return found ?? EMPTY;
  }

  /** Streams the contents of the given regular-file entries into `scratch`, one pass per layer; returns `layer:path` → temp file. */
  async spool(entries: readonly MergedEntry[], scratch: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [layer, files] of await this.spoolSources(entries, scratch, -1)) {
      for (const [path, v] of files) if (typeof v === 'string') out.set(`${layer}:${path}`, v);
    }
    return out;
  }

  /**
   * Like `spool`, but files of at most `inlineMax` bytes are kept in memory (up to 64 MiB in
   * all) instead of a temp file each: a tree of 100,000 small files is then not written,
   * reopened and read back once per file. Returns layer → path → temp file or bytes; the
   * path strings are the entries' own, so a large tree adds no keys of its own.
   */
  async spoolSources(entries: readonly MergedEntry[], scratch: string, inlineMax = SMALL_FILE): Promise<Map<number, Map<string, string | Buffer | null>>> {
    await fs.mkdir(scratch, { recursive: true });
    let inlineBudget = 64 * 2 ** 20;
    // The wanted paths of each layer, filled in as the layer is read (null: not read yet).
    const byLayer = new Map<number, Map<string, string | Buffer | null>>();
    const want = (layer: number, path: string) => {
      let files = byLayer.get(layer);
      if (!files) byLayer.set(layer, (files = new Map()));
      files.set(path, null);
    };
    for (const e of entries) {
      if (e.entry.type === 'file') want(e.layer, e.entry.path);
      if (e.entry.type === 'hardlink' && e.linkTarget) want(e.linkTarget.layer, e.linkTarget.entry.path);
    }
    for (const [i, wanted] of byLayer) {
      const layer = this.#image.layers[i]!;
      this.#lower.opened.add(i);
      for await (const { entry, body } of readLayer(await layer.source.open(layer.descriptor.digest), `${this.#lower.what} layer ${i + 1} (${layer.descriptor.digest.slice(7, 19)})`)) {
        if (entry.type === 'file' && wanted.has(entry.path)) {
          if (entry.size <= inlineMax && entry.size <= inlineBudget) {
            const chunks: Buffer[] = [];
            for await (const c of body) chunks.push(c as Buffer);
            const data = chunks.length === 0 ? EMPTY : Buffer.concat(chunks);
            inlineBudget -= data.length;
            wanted.set(entry.path, data);
            continue;
          }
          // Named uniquely in the process: stages on one base spool into one scratch directory at once.
          const tmp = join(scratch, `f${spoolSeq++}`);
          await pipeline(body, createWriteStream(tmp, { mode: 0o600 }));
          wanted.set(entry.path, tmp);
        } else body.resume();
      }
    }
    return byLayer;
  }
}
