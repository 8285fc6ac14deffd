import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { limit, overLimit } from '../../util/limits.js';
import { RunError } from '../errors.js';
import { Inode, joinPath, type RunFs } from './run-fs.js';

// RUN --mount=type=bind, natively: the bound tree (a context path, or a path of another stage
// or image, put on disk by the build) is laid into the RUN's view at the target, over whatever
// the stage had there, and kept out of the layer. Read-only unless rw: a write under it fails
// as on a read-only mount; with rw its writes are thrown away, as BuildKit's.

/** Lays the host path `src` at the canonical `target` of `rfs`, then marks it a mount. */
export async function bindInto(rfs: RunFs, src: string, target: string, rw: boolean): Promise<void> {
  const maxEntries = limit('layerEntries');
  const maxBytes = limit('runFileSize');
  let entries = 0;
  let bytes = 0;
  // The mount point's parents are made where the stage has none (they stay, as with a mount stub).
  const segs = target.split('/');
  for (let i = 1; i < segs.length; i++) {
    const dir = segs.slice(0, i).join('/');
    const n = await rfs.at(dir);
    if (!n) await rfs.makeDir(dir, { mode: 0o755, uid: 0, gid: 0 });
    else if (n.type !== 'directory') throw new RunError(`can't mount on /${target}: /${dir} is not a directory`, 1);
  }
  await rfs.remove(target);
  const put = async (host: string, path: string): Promise<void> => {
    if (++entries > maxEntries) throw overLimit('layerEntries', `the bind mount at /${target} has more than ${maxEntries} entries`);
    const st = await fs.lstat(host);
    // Owned by root inside, as BuildKit shows a bound context; the modes are the files' own.
    const meta = { mode: st.mode & 0o7777, uid: 0, gid: 0 };
    if (st.isSymbolicLink()) { rfs.set(path, { type: 'symlink', meta: { ...meta, mode: 0o777 }, target: await fs.readlink(host) }); return; }
    if (st.isDirectory()) {
      await rfs.makeDir(path, meta);
      for (const name of (await fs.readdir(host)).sort()) await put(join(host, name), joinPath(path, name));
      return;
    }
    if (!st.isFile()) return; // sockets and devices a context may hold are not bound
    bytes += st.size;
    if (bytes > maxBytes) throw overLimit('runFileSize', `the bind mount at /${target} holds more than ${maxBytes} bytes`, 'bind less, or let the RUN execute (--isolation auto)');
    rfs.set(path, { type: 'file', ino: new Inode(meta, await fs.readFile(host)) });
  };
  await put(src, target);
  rfs.excluded.push(target);
  if (!rw) rfs.readonly.push(target);
}
