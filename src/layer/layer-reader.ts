import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { createGunzip } from 'node:zlib';
import type { Transform } from 'node:stream';
import tar from 'tar-stream';
import { OcimakeError } from '../errors.js';
import { normalizeEntryPath } from './entry.js';
import { limit, overLimit } from '../util/limits.js';
import { quoteName } from '../util/quote.js';
import { work } from '../util/work.js';
import { collectIfGrown, LARGE_TREE, largeTree } from '../util/heap.js';
import type { TarEntry } from '../store/entry-index.js';

export type { TarEntry };

const TYPES: Record<string, TarEntry['type']> = {
  file: 'file', 'contiguous-file': 'file', directory: 'directory', symlink: 'symlink', link: 'hardlink',
  'character-device': 'char', 'block-device': 'block', fifo: 'fifo',
};

/** Normalises a layer path: a leading `/` is dropped (as Docker does); `..` that climbs out is refused. */
export function safeLayerPath(name: string, what: string): string {
  try {
    return normalizeEntryPath(name);
  } catch {
    throw new OcimakeError('LAYER_UNSAFE', `${what}: entry ${quoteName(name)} climbs out of the image root`, { hint: 'the layer is malformed or hostile; it is refused' });
  }
}

/** The limits on one layer's names, read once per layer. */
interface NameLimits { length: number; depth: number }

/** Checks a name or link target against the pathLength and pathDepth limits. */
function checkName(name: string, limits: NameLimits, what: string, role: string, hint?: string): void {
  if (name.length > limits.length && Buffer.byteLength(name) > limits.length) {
    throw overLimit('pathLength', `${what}: ${role} ${quoteName(name.slice(0, 60))}… is ${Buffer.byteLength(name)} bytes long`, hint);
  }
  // A name shorter than the limit cannot go deeper than it; a longer one is counted in one scan.
  if (name.length <= limits.depth) return;
  let depth = 0;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 47) depth++;
  if (depth > limits.depth) throw overLimit('pathDepth', `${what}: ${role} ${quoteName(name.slice(0, 60))}… goes ${depth} directories down`, hint);
}

/**
 * The limits a layer ocimake writes obeys, the same ones reading it enforces (layerEntries,
 * pathLength, pathDepth): an image this build pushes must be one the next build can read.
 */
export function checkWrittenNames(entries: readonly { path: string; type: string; linkname?: string }[], what: string): void {
  const limits: NameLimits = { length: limit('pathLength'), depth: limit('pathDepth') };
  const maxEntries = limit('layerEntries');
  if (entries.length > maxEntries) throw overLimit('layerEntries', `${what} would have ${entries.length} entries, more than ${maxEntries}`, 'an image with a layer this large could not be read back');
  const hint = 'a layer past it could not be read back, by ocimake or by a registry-side scanner';
  for (const e of entries) {
    checkName(e.path, limits, what, 'entry', hint);
    if (e.linkname !== undefined) checkName(e.linkname, limits, what, `the target of ${quoteName(e.path)}`, hint);
  }
}

/**
 * The checks every entry of a layer passes, whether read from the tar or from a cached entry
 * index: the layerEntries limit (counted per returned checker, so once per layer), names and
 * link targets within pathLength and pathDepth, paths normalised, and `..` that climbs out
 * refused. Returns the entry as the merged view sees it (mode masked to 0o7777).
 */
export function checkLayerEntry(what: string): (raw: TarEntry) => TarEntry {
  const limits: NameLimits = { length: limit('pathLength'), depth: limit('pathDepth') };
  const maxEntries = limit('layerEntries');
  let count = 0;
  return (raw) => {
    work.layerEntries++;
    if (++count > maxEntries) throw overLimit('layerEntries', `${what} has more than ${maxEntries} entries`);
    if (count === LARGE_TREE) largeTree();
    if ((count & 4095) === 0) collectIfGrown();
    checkName(raw.path, limits, what, 'entry');
    const entry: TarEntry = { path: safeLayerPath(raw.path, what), type: raw.type, mode: raw.mode & 0o7777, uid: raw.uid, gid: raw.gid, size: raw.size };
    if (raw.type === 'symlink') { entry.linkname = raw.linkname ?? ''; checkName(entry.linkname, limits, what, `the target of ${quoteName(entry.path)}`); }
    if (raw.type === 'hardlink') { checkName(raw.linkname ?? '', limits, what, `the target of ${quoteName(entry.path)}`); entry.linkname = safeLayerPath(raw.linkname ?? '', what); }
    return entry;
  };
}

/** Wraps a blob stream, gunzipping it when it starts with the gzip magic. */
export async function maybeGunzip(src: Readable): Promise<Readable> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  const rest = Readable.from((async function* () {
    if (!first.done) yield first.value;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  })());
  const head = first.done ? Buffer.alloc(0) : first.value;
  if (head[0] === 0x1f && head[1] === 0x8b) return rest.pipe(createGunzip());
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) {
    const z = zlib as unknown as { createZstdDecompress?: () => Transform };
    if (!z.createZstdDecompress) throw new OcimakeError('COMPRESSION_UNSUPPORTED', `a layer is zstd-compressed, which needs Node.js 22.15 or later to read (this is ${process.version})`, { hint: 'run ocimake on Node 22.15+, 24 or 26' });
    return rest.pipe(z.createZstdDecompress());
  }
  return rest;
}

/**
 * Iterates the entries of a layer blob (gzip or plain tar). The consumer must read or
 * `resume()` each body before asking for the next entry. Paths are normalised; entries
 * that climb out of the root (`../`, hardlinks to `../x`) are refused with LAYER_UNSAFE.
 */
export async function* readLayer(src: Readable, what: string): AsyncGenerator<{ entry: TarEntry; body: Readable }> {
  const extract = tar.extract();
  const done = pipeline(await maybeGunzip(src), extract).catch((err: unknown) => {
    extract.destroy(err as Error);
  });
  const check = checkLayerEntry(what);
  try {
    for await (const e of extract) {
      const h = e.header as typeof e.header & { pax?: Record<string, string> | null };
      const type = h.type === null || h.type === undefined ? undefined : TYPES[h.type];
      if (!type) {
        // pax and GNU long-name headers are consumed by tar-stream. Any other type flag is an
        // entry we cannot write faithfully: refused, as Docker refuses an unhandled type,
        // rather than dropped or taken for a plain file.
        throw new OcimakeError('LAYER_UNSUPPORTED', `${what}: entry ${quoteName(h.name)} has a tar type that ocimake does not read (${h.type ?? 'a GNU sparse file, volume label or vendor type'})`, {
          hint: 'rebuild the image with a tar that writes plain entries (Docker, BuildKit and buildah do)',
        });
      }
      if (h.pax && Object.keys(h.pax).some((k) => k.startsWith('GNU.sparse.'))) {
        throw new OcimakeError('LAYER_UNSUPPORTED', `${what}: entry ${quoteName(h.name)} is a sparse file (pax GNU.sparse records), which ocimake does not read`, {
          hint: 'rebuild the image with a tar that writes plain entries (Docker, BuildKit and buildah do)',
        });
      }
      const raw: TarEntry = { path: h.name, type, mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, size: h.size ?? 0 };
      if (type === 'symlink' || type === 'hardlink') raw.linkname = h.linkname ?? '';
      const entry = check(raw);
      yield { entry, body: e as unknown as Readable };
      e.resume();
    }
  } catch (err) {
    if (err instanceof OcimakeError) throw err;
    throw new OcimakeError('LAYER_INVALID', `${what}: ${(err as Error).message}`, { cause: err, hint: 'the layer is not a valid tar or gzip stream: the image is broken or was cut off' });
  } finally {
    await done;
  }
}

