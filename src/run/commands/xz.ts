import xz from 'xz-decompress';
import { limit, overLimit } from '../../util/limits.js';
import { RunError } from '../errors.js';

// xz, for tar -xJf (release tarballs that ship only as .tar.xz): decompressed with
// xz-decompress (xz-embedded compiled to WebAssembly; no native module), counted against
// runFileSize as it comes.

export const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

export async function unxz(data: Buffer, name: string): Promise<Buffer> {
  const max = limit('runFileSize');
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of new xz.XzReadableStream(new Blob([data]).stream()) as unknown as AsyncIterable<Uint8Array>) {
      size += c.length;
      if (size > max) throw overLimit('runFileSize', `${name} unpacks to more than ${max} bytes`, 'unpack large archives before the build and COPY the files');
      chunks.push(Buffer.from(c));
    }
  } catch (e) {
    if (e instanceof RunError || (e as { code?: string }).code === 'LIMIT_EXCEEDED') throw e;
    throw new RunError(`${name}: corrupted data (${(e as Error).message})`, 1);
  }
  return Buffer.concat(chunks);
}
