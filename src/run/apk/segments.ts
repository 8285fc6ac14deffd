import { inflateRawSync } from 'node:zlib';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { OcimakeError } from '../../errors.js';

// apk v2 files (.apk packages and APKINDEX.tar.gz) are gzip members laid end to end: a
// signature, then what it signs (a package's control and data, or the index). Signatures
// cover the compressed bytes of a member, so members are split exactly.
// https://wiki.alpinelinux.org/wiki/Apk_spec

export interface Member { start: number; end: number; data: Buffer }

function headerLength(b: Buffer, off: number, what: string): number {
  if (b[off] !== 0x1f || b[off + 1] !== 0x8b || b[off + 2] !== 8) throw new OcimakeError('APK_INVALID', `${what}: not a gzip stream at byte ${off}`);
  const flg = b[off + 3]!;
  let p = off + 10;
  if (flg & 4) p += 2 + (b[p]! | (b[p + 1]! << 8));
  if (flg & 8) while (p < b.length && b[p++] !== 0);
  if (flg & 16) while (p < b.length && b[p++] !== 0);
  if (flg & 2) p += 2;
  if (p > b.length) throw new OcimakeError('APK_INVALID', `${what}: truncated gzip header`);
  return p - off;
}

/** Splits a file into its gzip members, each with its compressed span and its inflated bytes. */
export function gzipMembers(b: Buffer, what: string, maxOut = 1 << 30): Member[] {
  const out: Member[] = [];
  let off = 0;
  while (off < b.length) {
    const h = headerLength(b, off, what);
    let r: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      r = inflateRawSync(b.subarray(off + h), { info: true, maxOutputLength: maxOut }) as unknown as typeof r;
    } catch (err) {
      throw new OcimakeError('APK_INVALID', `${what}: corrupt gzip stream at byte ${off}: ${(err as Error).message}`);
    }
    const end = off + h + r.engine.bytesWritten + 8;
    if (end > b.length) throw new OcimakeError('APK_INVALID', `${what}: truncated gzip stream at byte ${off}`);
    out.push({ start: off, end, data: r.buffer });
    off = end;
  }
  return out;
}

export interface ApkTarEntry { name: string; type: string; mode: number; mtime: number; uid: number; gid: number; size: number; linkname?: string; pax: Record<string, string>; data: Buffer; uname?: string; gname?: string }

/** Reads the entries of a tar held in memory (apk members: no end-of-archive blocks is fine). */
export async function readTarBuffer(data: Buffer, what: string): Promise<ApkTarEntry[]> {
  // tar-stream wants the end-of-archive blocks; apk's signature and control members omit them.
  const input = Buffer.concat([data, Buffer.alloc(1024)]);
  const out: ApkTarEntry[] = [];
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => { chunks.push(c as Buffer); });
      stream.on('end', () => {
        out.push({
          name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0o644, mtime: h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0, uid: h.uid ?? 0, gid: h.gid ?? 0, size: h.size ?? 0,
          ...(h.linkname ? { linkname: h.linkname } : {}), pax: (h.pax ?? {}) as Record<string, string>, data: Buffer.concat(chunks),
          ...(h.uname ? { uname: h.uname } : {}), ...(h.gname ? { gname: h.gname } : {}),
        });
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', (e: Error) => reject(new OcimakeError('APK_INVALID', `${what}: ${e.message}`)));
  });
  Readable.from([input]).pipe(ex);
  await done;
  return out;
}
