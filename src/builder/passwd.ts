import { readySource } from '../layer/entry.js';
import { promises as fs } from 'node:fs';
import { copyOut } from '../image/copy-out.js';
import type { MergedFs } from '../image/merged-fs.js';

/** Resolves user and group names from the image's /etc/passwd and /etc/group. */
/** `primary-gid` is the group of a user by name (passwd's fourth field). */
export type IdLookup = (kind: 'user' | 'group' | 'primary-gid', name: string) => number | undefined;

/**
 * Reads /etc/passwd and /etc/group of an image (following symlinks inside it) so that
 * `COPY --chown=app:app` works as in Docker. Missing files simply resolve nothing.
 */
export async function loadIdLookup(mfs: MergedFs, scratch: string): Promise<IdLookup> {
  const read = async (path: string, idField: number): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    const hit = await mfs.lookup(path);
    if (!hit || hit.entry.entry.type !== 'file') return out;
    const [copied] = await copyOut(mfs, [path], scratch, 'the stage');
    const e = copied?.entries[0]?.entry;
    if (!e || e.type !== 'file') return out;
    const source = await readySource(e.source);
    const text = source.kind === 'path' ? await fs.readFile(source.path, 'utf8') : source.data.toString('utf8');
    for (const line of text.split('\n')) {
      const f = line.split(':');
      const id = f[idField];
      if (f[0] && id !== undefined && /^\d+$/.test(id)) out.set(f[0], Number(id));
    }
    return out;
  };
  const users = await read('/etc/passwd', 2);
  const primary = await read('/etc/passwd', 3);
  const groups = await read('/etc/group', 2);
  return (kind, name) => (kind === 'user' ? users : kind === 'group' ? groups : primary).get(name);
}

/** True when a --chown value names a user or group rather than numeric ids. */
export function chownNeedsNames(spec: string | undefined): boolean {
  return spec !== undefined && spec.split(':').some((p) => p !== '' && !/^\d+$/.test(p));
}
