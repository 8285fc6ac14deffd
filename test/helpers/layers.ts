import type { EntryIndexStore } from '../../src/store/entry-index.js';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { Image } from '../../src/image/image.js';
import type { Digest } from '../../src/oci/digest.js';

/** A raw tar entry for synthetic (possibly hostile) layers. */
export type RawEntry = {
  name: string; type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo'; content?: string; linkname?: string; mode?: number; uid?: number; gid?: number;
  /** pax records written before the entry (a `path` here overrides the name, as tar readers do). */
  pax?: Record<string, string>;
  /** A raw type flag written over the header's (e.g. 'S', a GNU sparse file), checksum fixed. */
  typeflag?: string;
};

/** Makes an uncompressed tar from raw entries, written exactly as given (no normalisation). */
export async function rawTar(entries: RawEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? e.uid ?? 0,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}), ...(e.pax ? { pax: e.pax } : {}),
    };
    if (type === 'file') pack.entry(header, e.content ?? '');
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const out = Buffer.concat(chunks);
  // Patch type flags: walk the headers (pax headers are entries of their own here).
  if (entries.some((e) => e.typeflag)) {
    let off = 0;
    let i = 0;
    while (off + 512 <= out.length && out[off] !== 0) {
      const flag = String.fromCharCode(out[off + 156]!);
      const size = parseInt(out.subarray(off + 124, off + 136).toString('latin1').replace(/\0.*$/, '').trim() || '0', 8);
      if (flag !== 'x') {
        const want = entries[i++]?.typeflag;
        if (want) {
          out[off + 156] = want.charCodeAt(0);
          out.fill(0x20, off + 148, off + 156);
          let sum = 0;
          for (let k = off; k < off + 512; k++) sum += out[k]!;
          out.write(`${sum.toString(8).padStart(6, '0')}\0 `, off + 148, 'latin1');
        }
      }
      off += 512 + Math.ceil(size / 512) * 512;
    }
  }
  return out;
}

/** Makes a gzipped layer tarball from raw entries, written exactly as given (no normalisation). */
export async function rawLayer(entries: RawEntry[]): Promise<Buffer> {
  return gzipSync(await rawTar(entries));
}

const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** The diffID: the digest of the uncompressed tar (the gzip's digest only when it is not gzip). */
const diffIdOf = (b: Buffer): Digest => {
  try { return sha(gunzipSync(b)); } catch { return sha(b); }
};

/** Writes an OCI image layout at `dir` (tag `1`) over raw layers, for `FROM oci:DIR:1` and `COPY --from=oci:DIR:1`. */
export async function layoutOf(dir: string, layers: Buffer[]): Promise<string> {
  const { writeOciLayout } = await import('../../src/layout/oci-layout.js');
  await writeOciLayout(dir, memoryImage(layers).image, { refName: '1' });
  return `oci:${dir}:1`;
}

/** An in-memory image over layer buffers (bottom first); `opened` counts blob opens per digest. */
export function memoryImage(layers: Buffer[], opts: { entryIndex?: EntryIndexStore } = {}): { image: Image; opened: Map<string, number> } {
  const blobs = new Map(layers.map((b) => [sha(b), b] as const));
  const opened = new Map<string, number>();
  const source = {
    open(d: string) {
      opened.set(d, (opened.get(d) ?? 0) + 1);
      return Readable.from([blobs.get(d as Digest)!]);
    },
    ...(opts.entryIndex ? { entryIndex: opts.entryIndex } : {}),
  };
  const image: Image = {
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(diffIdOf) } },
    layers: layers.map((b) => ({ descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(b), size: b.length }, diffId: diffIdOf(b), source })),
  };
  return { image, opened };
}
