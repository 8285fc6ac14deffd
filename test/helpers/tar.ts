import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import tar from 'tar-stream';

/** One entry read back from a tar, for assertions. */
export interface ReadEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname?: string;
  content?: string;
  size: number;
  uname?: string;
  pax?: Record<string, string> | null;
}

/** Reads every entry of a (gzip-compressed when `gzip`) tar stream. */
export async function readTar(src: Readable | Buffer, gzip = true): Promise<ReadEntry[]> {
  const input = Buffer.isBuffer(src) ? Readable.from([src]) : src;
  const extract = tar.extract();
  (gzip ? input.pipe(createGunzip()) : input).pipe(extract);
  const out: ReadEntry[] = [];
  for await (const e of extract) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    const h = e.header;
    const entry: ReadEntry = { name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, mtime: (h.mtime?.getTime() ?? 0) / 1000, size: h.size ?? 0, pax: h.pax as Record<string, string> | null | undefined };
    if (h.linkname) entry.linkname = h.linkname;
    if (h.uname) entry.uname = h.uname;
    if (h.type === 'file') entry.content = Buffer.concat(chunks).toString('utf8');
    out.push(entry);
  }
  return out;
}
