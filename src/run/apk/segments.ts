import { inflateRawSync } from 'node:zlib';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { OcimakeError } from '../../errors.js';
import { limit, overLimit } from '../../util/limits.js';

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

/** What a signature member inflates to at most (real ones are under 1 KiB). */
export const SIGNATURE_MAX = 64 << 10;
/** What a package's control member inflates to at most (.PKGINFO and its scripts). */
export const CONTROL_MAX = 16 << 20;
/** How many gzip members may follow: an index has one, a package's data a few. */
const MEMBERS_MAX = 64;

/**
 * Inflates the one gzip member at `off`; undefined when it would inflate past `maxOut` (the
 * caller decides whether that is an error). Members are read one at a time, in the order
 * their checks need them: a signature member first, then what it signs is checked as
 * compressed bytes before any of it is inflated.
 */
export function tryMember(b: Buffer, off: number, what: string, maxOut: number): Member | undefined {
  const h = headerLength(b, off, what);
  let r: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    r = inflateRawSync(b.subarray(off + h), { info: true, maxOutputLength: maxOut }) as unknown as typeof r;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    throw new OcimakeError('APK_INVALID', `${what}: corrupt gzip stream at byte ${off}: ${(err as Error).message}`);
  }
  const end = off + h + r.engine.bytesWritten + 8;
  if (end > b.length) throw new OcimakeError('APK_INVALID', `${what}: truncated gzip stream at byte ${off}`);
  return { start: off, end, data: r.buffer };
}

/** The gzip member at `off`, which must inflate to at most `maxOut` bytes. */
export function gzipMember(b: Buffer, off: number, what: string, maxOut: number, role: string): Member {
  const m = tryMember(b, off, what, maxOut);
  if (!m) throw new OcimakeError('APK_INVALID', `${what}: its ${role} inflates to more than ${maxOut} bytes`, { hint: 'the file is malformed or hostile' });
  return m;
}

/** The members from `off` to the end, at most MEMBERS_MAX and `maxTotal` inflated bytes in all. */
export function gzipMembersFrom(b: Buffer, off: number, what: string): Member[] {
  const maxTotal = limit('runFileSize');
  const out: Member[] = [];
  let total = 0;
  while (off < b.length) {
    if (out.length >= MEMBERS_MAX) throw new OcimakeError('APK_INVALID', `${what}: more than ${MEMBERS_MAX} gzip members`, { hint: 'the file is malformed or hostile' });
    const m = tryMember(b, off, what, maxTotal - total);
    if (!m) throw overLimit('runFileSize', `${what} inflates to more than ${maxTotal} bytes`);
    total += m.data.length;
    out.push(m);
    off = m.end;
  }
  return out;
}

/** The signature entries of a first member, when it is a signature (`.SIGN.*`); else undefined. */
export async function signatureMember(b: Buffer, what: string): Promise<{ member: Member; entries: ApkTarEntry[] } | undefined> {
  if (b.length === 0) return undefined;
  const member = tryMember(b, 0, what, SIGNATURE_MAX);
  if (!member) return undefined;
  const entries = await readTarBuffer(member.data, what).catch(() => []);
  return entries.length > 0 && entries.every((e) => e.name.startsWith('.SIGN.')) ? { member, entries } : undefined;
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
