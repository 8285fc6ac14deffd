import { promises as fs } from 'node:fs';
import { tempPathBeside } from './temp-files.js';

/** Writes `data` to `path` atomically (temporary file in the same directory, fsync, then rename). */
export async function writeFileAtomic(path: string, data: string | Buffer, mode?: number): Promise<void> {
  const tmp = tempPathBeside(path);
  try {
    await fs.writeFile(tmp, data, mode === undefined ? {} : { mode });
    const fh = await fs.open(tmp, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
