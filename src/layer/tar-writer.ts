import { promises as fsp, readFileSync } from 'node:fs';
import { OcimakeError } from '../errors.js';
import * as zlib from 'node:zlib';
import { PassThrough, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { BlobStore } from '../store/blob-store.js';
import { sha256, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { finalizeEntries, SMALL_FILE, type LayerEntry } from './entry.js';
import { CoalescingTransform, HashingTransform } from './hash-transform.js';
import { ParallelGzip } from './parallel-gzip.js';

/** A written layer: its compressed blob digest, uncompressed diffID and compressed size. */
export interface WrittenLayer {
  mediaType: string;
  digest: Digest;
  diffId: Digest;
  size: number;
  /** Uncompressed tar size. */
  uncompressedSize: number;
}

/** How layers are compressed (-o ...,compression=…,compression-level=…). */
export interface LayerCompression { algo: 'gzip' | 'zstd' | 'uncompressed'; level?: number }

/** The media type of a layer written with `c`. */
export function layerMediaType(c: LayerCompression | undefined): string {
  return c?.algo === 'zstd' ? MediaType.OciLayerZstd : c?.algo === 'uncompressed' ? MediaType.OciLayer : MediaType.OciLayerGzip;
}

/** True when this Node has zstd in node:zlib (22.15 and later). */
export function hasZstd(): boolean {
  return typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';
}

/** Refuses `c` when it is zstd and this Node cannot write it. */
export function checkCompression(c: LayerCompression | undefined): void {
  if (c?.algo === 'zstd' && !hasZstd()) {
    throw new OcimakeError('COMPRESSION_UNSUPPORTED', `compression=zstd needs Node.js 22.15 or later (this is ${process.version})`, { hint: 'run ocimake on Node 22.15+, 24 or 26, or use compression=gzip' });
  }
}

export interface TarWriteOptions {
  /** mtime of every entry, in seconds; defaults to SOURCE_DATE_EPOCH or 0. */
  mtime?: number;
  mediaType?: string;
  /** gzip (default, level 6), zstd (level 3 by default) or uncompressed; sets the media type. */
  compression?: LayerCompression;
  /** Called with the sha256 of each regular file's bytes as they are written. */
  onFileDigest?: (path: string, digest: Digest) => void;
}

type PackHeader = Parameters<tar.Pack['entry']>[0] & { pax?: Record<string, string> };

/** Layers with at least this much file data are compressed in parallel. */
export const PARALLEL_MIN = 1024 * 1024;

const USTAR_MAX_SIZE = 0o77777777777; // 8 GiB - 1: above this the size goes in a PAX record

/** The mtime used for layer entries: SOURCE_DATE_EPOCH when set and valid, else 0. */
export function defaultMtime(env: NodeJS.ProcessEnv = process.env): number {
  const s = env.SOURCE_DATE_EPOCH;
  if (s !== undefined && /^\d+$/.test(s)) return Number(s);
  return 0;
}

/**
 * Writes `entries` as a deterministic gzip-compressed tar into `store`, computing the
 * diffID (over the tar), the digest and the size (over the gzip) in the same streaming
 * pass. Entries are normalised, de-duplicated, given parent directories and sorted; every
 * header has the same mtime and no user/group names, so the same input gives the same bytes.
 */
export async function writeLayer(store: BlobStore, entries: readonly LayerEntry[], opts: TarWriteOptions = {}): Promise<WrittenLayer> {
  const mtime = new Date((opts.mtime ?? defaultMtime()) * 1000);
  const sorted = finalizeEntries(entries);
  const pack = tar.pack();
  const tarHash = new HashingTransform();
  // gzip: level 6 (Docker's and BuildKit's default; level 9 measured 2x slower for 0.3% smaller
  // output on real binaries) and memLevel 9 are fixed so the output depends on the input alone.
  // Layers of 1 MiB of file data and more are deflated in parallel blocks (pigz's scheme, whose
  // bytes do not depend on the thread count); smaller ones in one zlib stream.
  const fileBytes = sorted.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
  const gzip = compressor(opts.compression, fileBytes);
  const writer = await store.writer();
  const feeding = feed(pack, sorted, mtime, opts.onFileDigest);
  try {
    await Promise.all([pipeline(pack, new CoalescingTransform(), tarHash, gzip, writer.stream), feeding]);
    const { digest, size } = await writer.commit();
    return {
      mediaType: opts.mediaType ?? layerMediaType(opts.compression),
      digest,
      size,
      diffId: tarHash.counter.digest(),
      uncompressedSize: tarHash.counter.size,
    };
  } catch (err) {
    pack.destroy();
    await writer.abort();
    throw err;
  }
}

function compressor(c: LayerCompression | undefined, fileBytes: number): Transform {
  if (c?.algo === 'uncompressed') return new PassThrough();
  if (c?.algo === 'zstd') {
    checkCompression(c);
    const z = zlib as unknown as { createZstdCompress(o: object): Transform; constants: Record<string, number> };
    return z.createZstdCompress({ params: { [z.constants.ZSTD_c_compressionLevel!]: c.level ?? 3, [z.constants.ZSTD_c_checksumFlag!]: 0 } });
  }
  const level = c?.level ?? 6;
  return fileBytes >= PARALLEL_MIN ? new ParallelGzip(undefined, level) : zlib.createGzip({ level, memLevel: 9 });
}


/** The error for a context file that cannot be read (permissions, or it vanished mid-build). */
export function unreadable(path: string, err: NodeJS.ErrnoException): OcimakeError {
  return new OcimakeError('FILE_UNREADABLE', `cannot read ${path}: ${err.code === 'EACCES' ? 'permission denied' : err.code ?? err.message}`, {
    cause: err,
    hint: err.code === 'EACCES' ? 'make the file readable by the user running ocimake, or list it in .dockerignore' : 'the file changed or vanished while the layer was written; run the build again',
  });
}

/** Writes entries as a plain (uncompressed) tar to `out`, with the same deterministic headers as layers. */
export async function writeTarStream(entries: readonly LayerEntry[], out: NodeJS.WritableStream, opts: { mtime?: number } = {}): Promise<void> {
  const pack = tar.pack();
  await Promise.all([pipeline(pack, out), feed(pack, finalizeEntries(entries), new Date((opts.mtime ?? defaultMtime()) * 1000))]);
}

async function feed(pack: tar.Pack, entries: LayerEntry[], mtime: Date, onFileDigest?: (path: string, digest: Digest) => void): Promise<void> {
  try {
    for (const e of entries) await addEntry(pack, e.type === 'file' && e.source.kind === 'deferred' ? { ...e, source: await e.source.load() } : e, mtime, onFileDigest);
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
}

function addEntry(pack: tar.Pack, e: LayerEntry, mtime: Date, onFileDigest?: (path: string, digest: Digest) => void): Promise<void> {
  const base = { name: e.path, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime, uname: '', gname: '' };
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    switch (e.type) {
      case 'directory':
        pack.entry({ ...base, name: `${e.path}/`, type: 'directory' }, done);
        return;
      case 'symlink':
        pack.entry({ ...base, type: 'symlink', linkname: e.linkname }, done);
        return;
      case 'hardlink':
        pack.entry({ ...base, type: 'link', linkname: e.linkname }, done);
        return;
      case 'file': {
        const header: PackHeader = { ...base, type: 'file', size: e.size };
        if (e.size > USTAR_MAX_SIZE) header.pax = { size: String(e.size) };
        if (e.source.kind === 'deferred') { reject(new Error(`internal: ${e.path} was not read before it was written`)); return; }
        if (e.source.kind === 'bytes') {
          if (onFileDigest) onFileDigest(e.path, sha256(e.source.data));
          pack.entry(header, e.source.data, done);
          return;
        }
        const path = e.source.path;
        if (e.size <= SMALL_FILE) {
          // Small files in one synchronous read: no thread-pool round trips (a 50,000-file
          // layer waited seconds on open, read and close one file after the other).
          let data: Buffer;
          try { data = readFileSync(path); } catch (err) { reject(unreadable(path, err as NodeJS.ErrnoException)); return; }
          if (data.length !== e.size) { reject(unreadable(path, Object.assign(new Error('changed size'), { code: 'its size changed while the layer was written' }))); return; }
          if (onFileDigest) onFileDigest(e.path, sha256(data));
          pack.entry(header, data, done);
          return;
        }
        // Opened before the entry starts, so an unreadable file is a clear error, not a broken archive.
        fsp.open(path, 'r').then((fh) => {
          const sink = pack.entry(header, done);
          const read = fh.createReadStream().on('error', (err) => { sink.destroy(err); reject(err); });
          if (!onFileDigest) { read.pipe(sink); return; }
          const hash = new HashingTransform();
          hash.on('end', () => onFileDigest(e.path, hash.counter.digest()));
          read.pipe(hash).pipe(sink);
        }, (err: NodeJS.ErrnoException) => reject(unreadable(path, err)));
        return;
      }
    }
  });
}
