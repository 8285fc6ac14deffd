import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { sha256, Sha256Counter, type Digest } from '../oci/digest.js';
import { SMALL_FILE, type LayerEntry } from './entry.js';
import { unreadable } from './unreadable.js';
import { collectIfGrown } from '../util/heap.js';

/** The digest of no bytes, computed once (a layer of 100,000 empty files hashed nothing 100,000 times). */
let emptyDigest: Digest | undefined;

// The tar a layer is written as, byte for byte what tar-stream's pack writes for the same
// headers (ustar; a pax record for names that are not ASCII or too long, and for sizes past
// 8 GiB), without its per-entry machinery: tar-stream opens a Writable stream for every
// entry, which cost 17 µs and a dozen objects per entry (1.7 s for a 100,000-entry layer, the
// largest part of its time and garbage). test/layer/tar-pack.test.ts checks the bytes against
// tar-stream's on a corpus of names, link targets, modes and sizes. Reading stays on tar-stream.

/** ustar's size field holds 11 octal digits: larger files get a pax size record. */
export const USTAR_MAX_SIZE = 0o77777777777;
const BLOCK = 64 * 1024;
/** Large files are read in pieces of this size. */
const READ = 1 << 20;
const ZEROS = '0000000000000000000';
const SEVENS = '7777777777777777777';
const TYPEFLAG = { file: 0x30, hardlink: 0x31, symlink: 0x32, directory: 0x35, pax: 0x78 } as const;

interface Header { name: string; mode: number; uid: number; gid: number; size: number; mtime: number; type: keyof typeof TYPEFLAG; linkname?: string }

function octal(val: number, n: number): string {
  const s = val.toString(8);
  return s.length > n ? `${SEVENS.slice(0, n)} ` : `${ZEROS.slice(0, n - s.length)}${s} `;
}

/**
 * Writes one ustar header block at `buf[off..off+512)`; false (nothing written) when the name
 * or link target needs a pax record. The block is written in place: a 100,000-entry layer
 * allocating a buffer per header spent most of its time there.
 */
function ustar(h: Header, buf: Buffer, off: number): boolean {
  let name = h.name;
  let prefix = '';
  if (Buffer.byteLength(name) !== name.length) return false; // not ASCII
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return false;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (name.length > 100 || prefix.length > 155) return false;
  if (h.linkname && Buffer.byteLength(h.linkname) > 100) return false;
  buf.fill(0, off, off + 512);
  buf.write(name, off, 'latin1');
  buf.write(octal(h.mode & 0o7777, 6), off + 100, 'latin1');
  buf.write(octal(h.uid, 6), off + 108, 'latin1');
  buf.write(octal(h.gid, 6), off + 116, 'latin1');
  if (h.size.toString(8).length > 11) {
    // Base-256, as tar-stream writes it (ocimake gives such files a pax size instead).
    buf[off + 124] = 0x80;
    let num = h.size;
    for (let i = 11; i > 0; i--) { buf[off + 124 + i] = num & 0xff; num = Math.floor(num / 0x100); }
  } else buf.write(octal(h.size, 11), off + 124, 'latin1');
  buf.write(octal(h.mtime, 11), off + 136, 'latin1');
  buf[off + 156] = TYPEFLAG[h.type];
  if (h.linkname) buf.write(h.linkname, off + 157);
  buf.write('ustar\x0000', off + 257, 'latin1');
  buf.write('000000 \x00000000 ', off + 329, 'latin1'); // devmajor, devminor
  if (prefix) buf.write(prefix, off + 345, 'latin1');
  let sum = 8 * 32;
  for (let i = off; i < off + 148; i++) sum += buf[i]!;
  for (let i = off + 156; i < off + 512; i++) sum += buf[i]!;
  buf.write(octal(sum, 6), off + 148, 'latin1');
  return true;
}

/** A pax record, `<length> key=value\n`, its length counting itself (tar-stream's arithmetic). */
function paxRecord(key: string, value: string): string {
  const str = ` ${key}=${value}\n`;
  const len = Buffer.byteLength(str);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= Math.pow(10, digits)) digits++;
  return `${len + digits}${str}`;
}

/** Writes an entry's header: one ustar block, or a pax header, its records and a ustar block named PaxHeader. */
function writeHeader(out: Blocks, h: Header, pax?: Record<string, string>): void {
  if (!pax && ustar(h, out.reserve(512), out.offset)) { out.commit(512); return; }
  let records = '';
  if (h.name) records += paxRecord('path', h.name);
  if (h.linkname) records += paxRecord('linkpath', h.linkname);
  for (const [k, v] of Object.entries(pax ?? {})) records += paxRecord(k, v);
  const body = Buffer.from(records);
  const outer = { ...h, name: 'PaxHeader', ...(h.linkname ? { linkname: 'PaxHeader' } : {}) };
  ustar({ ...outer, size: body.length, type: 'pax' }, out.reserve(512), out.offset);
  out.commit(512);
  out.add(body);
  out.zeros(padding(body.length));
  ustar(outer, out.reserve(512), out.offset);
  out.commit(512);
}

/** Zero bytes after `size` bytes of content, up to the next 512-byte boundary. */
function padding(size: number): number {
  const rest = size & 511;
  return rest === 0 ? 0 : 512 - rest;
}

/** The tar in blocks of 64 KiB, written in place (hashing and deflating small buffers one by one is slow). */
class Blocks {
  #buf = Buffer.allocUnsafe(BLOCK);
  offset = 0;
  readonly ready: Buffer[] = [];

  /** The current block, with room for `n` bytes at `offset` (n <= BLOCK). */
  reserve(n: number): Buffer {
    if (this.offset + n > BLOCK) this.flush();
    return this.#buf;
  }

  commit(n: number): void { this.offset += n; }

  add(data: Buffer): void {
    for (let at = 0; at < data.length;) {
      if (this.offset === BLOCK) this.flush();
      const n = Math.min(data.length - at, BLOCK - this.offset);
      data.copy(this.#buf, this.offset, at, at + n);
      this.offset += n;
      at += n;
    }
  }

  zeros(n: number): void {
    if (n === 0) return;
    this.reserve(n).fill(0, this.offset, this.offset + n);
    this.offset += n;
  }

  /** Moves the current block to `ready`. */
  flush(): void {
    if (this.offset === 0) return;
    this.ready.push(this.#buf.subarray(0, this.offset));
    this.#buf = Buffer.allocUnsafe(BLOCK);
    this.offset = 0;
  }
}

/**
 * The tar of `entries` (final: sorted, parents present), in blocks of about 64 KiB: every
 * header with the same mtime and no user or group names, directories named with a trailing
 * `/`, mode 0 written as tar-stream writes it (0644, or 0755 for a directory), then two zero
 * blocks. Files are read as they are reached: small ones whole, larger ones streamed.
 * `onFileDigest` gets each file's sha256.
 */
export async function* packTar(entries: readonly LayerEntry[], mtimeSeconds: number, onFileDigest?: (path: string, digest: Digest) => void, reuseReads = false): AsyncGenerator<Buffer> {
  const out = new Blocks();
  // With reuseReads, the caller is done with each chunk before it asks for the next (it copies
  // it), and large files are read into one buffer: a new 1 MiB buffer per read made V8 collect
  // garbage every ~20 MB of a large layer.
  let shared: Buffer | undefined;
  let n = 0;
  for (const e of entries) {
    if ((++n & 4095) === 0) collectIfGrown();
    const mode = (e.mode & 0o7777) || (e.type === 'directory' ? 0o755 : 0o644);
    if (e.type === 'directory') writeHeader(out, { name: `${e.path}/`, mode, uid: e.uid, gid: e.gid, size: 0, mtime: mtimeSeconds, type: 'directory' });
    else if (e.type === 'symlink' || e.type === 'hardlink') writeHeader(out, { name: e.path, mode, uid: e.uid, gid: e.gid, size: 0, mtime: mtimeSeconds, type: e.type, linkname: e.linkname });
    else {
      const header: Header = { name: e.path, mode, uid: e.uid, gid: e.gid, size: e.size, mtime: mtimeSeconds, type: 'file' };
      const pax = e.size > USTAR_MAX_SIZE ? { size: String(e.size) } : undefined;
      const source = e.source.kind === 'deferred' ? await e.source.load() : e.source;
      let data: Buffer | undefined;
      if (source.kind === 'bytes') data = source.data;
      else if (e.size <= SMALL_FILE) {
        // Small files in one synchronous read: no thread-pool round trips.
        try { data = readFileSync(source.path); } catch (err) { throw unreadable(source.path, err as NodeJS.ErrnoException); }
      }
      if (data) {
        if (data.length !== e.size) throw sizeChanged(source.kind === 'path' ? source.path : e.path);
        onFileDigest?.(e.path, data.length === 0 ? (emptyDigest ??= sha256(data)) : sha256(data));
        writeHeader(out, header, pax);
        out.add(data);
        out.zeros(padding(data.length));
      } else {
        // Opened before its header is written, so an unreadable file is a clear error, not a broken archive.
        const path = (source as { path: string }).path;
        let fd: number;
        try { fd = openSync(path, 'r'); } catch (err) { throw unreadable(path, err as NodeJS.ErrnoException); }
        writeHeader(out, header, pax);
        out.flush();
        const hash = onFileDigest ? new Sha256Counter() : undefined;
        let written = 0;
        try {
          // Read synchronously, 1 MiB at a time: reads through the thread pool queued behind the
          // parallel gzip's blocks there, and the pool ran dry at each one (W6: 3.0 -> 2.6 s).
          // A read from the page cache is a copy of a fraction of a millisecond.
          for (;;) {
            const want = Math.min(READ, e.size - written + 1);
            const c = reuseReads ? (shared ??= Buffer.allocUnsafe(READ + 1)) : Buffer.allocUnsafe(want);
            let n: number;
            try { n = readSync(fd, c, 0, want, null); } catch (err) { throw unreadable(path, err as NodeJS.ErrnoException); }
            if (n === 0) break;
            written += n;
            if (written > e.size) throw sizeChanged(path);
            const chunk = n === c.length ? c : c.subarray(0, n);
            hash?.update(chunk);
            while (out.ready.length > 0) yield out.ready.shift()!;
            yield chunk;
          }
        } finally {
          closeSync(fd);
        }
        if (written !== e.size) throw sizeChanged(path);
        if (hash && onFileDigest) onFileDigest(e.path, hash.digest());
        out.zeros(padding(written));
      }
    }
    while (out.ready.length > 0) yield out.ready.shift()!;
  }
  out.zeros(1024);
  out.flush();
  while (out.ready.length > 0) yield out.ready.shift()!;
}

function sizeChanged(path: string): Error {
  return unreadable(path, Object.assign(new Error('changed size'), { code: 'its size changed while the layer was written' }));
}
