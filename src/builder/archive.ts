import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { OcimakeError } from '../errors.js';
import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** Detects a tar archive (plain or compressed) by its first bytes, as Docker's ADD does. */
export async function detectArchive(path: string): Promise<ArchiveKind | undefined> {
  const fh = await fs.open(path, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    const b = buf.subarray(0, bytesRead);
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
    if (bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * Extracts a local tar archive for ADD into `scratchDir`, returning layer entries rooted at
 * `destDir` (an in-image path). Entries keep the archive's modes and owners (unless `owner`
 * overrides them); paths that would climb out of the destination and device nodes are refused.
 */
export async function extractArchiveEntries(
  archive: string,
  kind: ArchiveKind,
  destDir: string,
  scratchDir: string,
  owner?: { uid: number; gid: number },
): Promise<LayerEntry[]> {
  if (kind !== 'tar' && kind !== 'gzip') {
    throw new OcimakeError('UNSUPPORTED', `ADD of a ${kind}-compressed archive is not supported yet`, { hint: 'recompress it with gzip, or pass a plain .tar' });
  }
  await fs.mkdir(scratchDir, { recursive: true });
  const extract = tar.extract();
  const entries: LayerEntry[] = [];
  let n = 0;
  const input = createReadStream(archive);
  let failed: unknown;
  const done = (kind === 'gzip' ? pipeline(input, createGunzip(), extract) : pipeline(input, extract)).catch((err: unknown) => { failed = err; extract.destroy(err as Error); });
  try {
    for await (const entry of extract) {
      const h = entry.header;
      let rel: string;
      try {
        rel = normalizeEntryPath(h.name);
      } catch {
        entry.resume();
        throw new OcimakeError('ARCHIVE_INVALID', `${archive}: entry "${h.name}" climbs out of the archive root`);
      }
      const path = rel === '' ? normalizeEntryPath(destDir) : normalizeEntryPath(`${destDir}/${rel}`);
      const uid = owner?.uid ?? h.uid ?? 0;
      const gid = owner?.gid ?? h.gid ?? 0;
      const mode = (h.mode ?? 0o644) & 0o7777;
      switch (h.type) {
        case 'directory':
          if (path !== '') entries.push({ type: 'directory', path, mode, uid, gid });
          entry.resume();
          break;
        case 'symlink':
          entries.push({ type: 'symlink', path, mode, uid, gid, linkname: h.linkname ?? '' });
          entry.resume();
          break;
        case 'link': {
          const target = normalizeEntryPath(h.linkname ?? '');
          entries.push({ type: 'hardlink', path, mode, uid, gid, linkname: normalizeEntryPath(`${destDir}/${target}`) });
          entry.resume();
          break;
        }
        case 'file':
        case 'contiguous-file':
        case null:
        case undefined: {
          const tmp = join(scratchDir, `f${n++}`);
          await pipeline(entry, createWriteStream(tmp));
          entries.push({ type: 'file', path, mode, uid, gid, size: h.size ?? 0, source: { kind: 'path', path: tmp } });
          break;
        }
        default:
          entry.resume();
          throw new OcimakeError('ARCHIVE_INVALID', `${archive}: entry "${h.name}" is a ${h.type}, which ADD does not extract`, { hint: 'device nodes and fifos cannot be created without privileges' });
      }
    }
  } catch (err) {
    input.destroy();
    throw archiveError(archive, failed ?? err);
  }
  await done;
  if (failed) throw archiveError(archive, failed);
  return entries;
}

/** An archive that breaks while it is read: one error, with the file and a hint, never an unhandled rejection. */
function archiveError(archive: string, err: unknown): OcimakeError {
  if (err instanceof OcimakeError) return err;
  return new OcimakeError('ARCHIVE_INVALID', `${archive}: ${(err as Error)?.message ?? String(err)}`, { cause: err, hint: 'the archive is corrupt or cut off; ADD extracts tar, tar.gz and other local archives as they are' });
}
