import { OcimakeError } from '../errors.js';
import * as zlib from 'node:zlib';
import { PassThrough, Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../store/blob-store.js';
import { Sha256Counter, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { finalizeEntries, type LayerEntry } from './entry.js';
import { checkWrittenNames } from './layer-reader.js';
import { ParallelGzip } from './parallel-gzip.js';
import { packTar } from './tar-pack.js';
import { unreadable } from './unreadable.js';

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

/** Layers with at least this much file data are compressed in parallel. */
export const PARALLEL_MIN = 1024 * 1024;

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
  const mtime = opts.mtime ?? defaultMtime();
  const sorted = finalizeEntries(entries);
  checkWrittenNames(sorted, 'the new layer');
  const tarHash = new Sha256Counter();
  // gzip: level 6 (Docker's and BuildKit's default; level 9 measured 2x slower for 0.3% smaller
  // output on real binaries) and memLevel 9 are fixed so the output depends on the input alone.
  // Layers of 1 MiB of file data and more are deflated in parallel blocks (pigz's scheme, whose
  // bytes do not depend on the thread count); smaller ones in one zlib stream.
  const fileBytes = sorted.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
  const gzip = compressor(opts.compression, fileBytes);
  const writer = await store.writer();
  try {
    if (gzip instanceof ParallelGzip) {
      // The tar is handed to the parallel gzip directly, which copies each chunk at once: no
      // stream between them, and large files are read into one reused buffer.
      const feed = (async () => {
        try {
          for await (const chunk of packTar(sorted, mtime, opts.onFileDigest, true)) {
            tarHash.update(chunk);
            const wait = gzip.accept(chunk);
            if (wait) await wait;
          }
          gzip.end();
        } catch (err) {
          gzip.destroy(err as Error);
          throw err;
        }
      })();
      await Promise.all([feed, pipeline(gzip, writer.stream)]);
    } else {
      const hashed = async function* (): AsyncGenerator<Buffer> {
        for await (const chunk of packTar(sorted, mtime, opts.onFileDigest)) { tarHash.update(chunk); yield chunk; }
      };
      await pipeline(Readable.from(hashed(), { objectMode: false }), gzip, writer.stream);
    }
    const { digest, size } = await writer.commit();
    return {
      mediaType: opts.mediaType ?? layerMediaType(opts.compression),
      digest,
      size,
      diffId: tarHash.digest(),
      uncompressedSize: tarHash.size,
    };
  } catch (err) {
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


export { unreadable };

/** Writes entries as a plain (uncompressed) tar to `out`, with the same deterministic headers as layers. */
export async function writeTarStream(entries: readonly LayerEntry[], out: NodeJS.WritableStream, opts: { mtime?: number } = {}): Promise<void> {
  await pipeline(Readable.from(packTar(finalizeEntries(entries), opts.mtime ?? defaultMtime()), { objectMode: false }), out);
}
