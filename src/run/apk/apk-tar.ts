// The tar format apk-tools 2 writes for /lib/apk/db/scripts.tar (src/tar.c, apk_tar_write_entry):
// GNU magic "ustar  ", mode/uid/gid as 7 octal digits and NUL, size and mtime as 12 octal
// digits, the checksum as 6 digits, NUL and space, owner names "root" unless given, and two
// zero blocks at the end. Byte-for-byte equal to apk's output (checked in the interop suite).

export interface ApkTarFile { name: string; mode: number; uid: number; gid: number; mtime: number; uname?: string; gname?: string; data: Buffer }

function octal(buf: Buffer, off: number, len: number, value: number, nul: boolean): void {
  const digits = nul ? len - 1 : len;
  buf.write(value.toString(8).padStart(digits, '0').slice(-digits), off, 'ascii');
  if (nul) buf[off + len - 1] = 0;
}

export function writeApkTar(files: readonly ApkTarFile[]): Buffer {
  const out: Buffer[] = [];
  for (const f of files) {
    const h = Buffer.alloc(512);
    h.write(f.name.slice(0, 100), 0, 'utf8');
    octal(h, 100, 8, f.mode & 0o7777, true);
    octal(h, 108, 8, f.uid, true);
    octal(h, 116, 8, f.gid, true);
    octal(h, 124, 12, f.data.length, false);
    octal(h, 136, 12, f.mtime, false);
    h[156] = 0x30; // '0': a regular file
    h.write('ustar  \0', 257, 'ascii');
    h.write((f.uname ?? 'root').slice(0, 31), 265, 'utf8');
    h.write((f.gname ?? 'root').slice(0, 31), 297, 'utf8');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    octal(h, 148, 7, sum, true);
    out.push(h, f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}
