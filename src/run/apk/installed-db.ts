import { parseIndexText, type ApkPackage } from './index-file.js';

// /lib/apk/db/installed as apk-tools 2 writes it: per package, its index fields (C P V A S I
// T U L o m t c k D p i r q), then its files, each directory as F: (M:uid:gid:mode when not
// 0:0:755) followed by its files as R: (a:uid:gid:mode when not 0:0:644) and Z: (checksum),
// and a blank line.

export interface InstalledPackage { pkg: ApkPackage; block: string; files: string[]; dirs: string[] }

export function parseInstalled(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const block of text.split(/\n\n+/)) {
    if (block.trim() === '') continue;
    const [pkg] = parseIndexText(block, '/lib/apk/db/installed');
    if (!pkg) continue;
    const files: string[] = [];
    const dirs: string[] = [];
    let dir = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('F:')) { dir = line.slice(2); dirs.push(dir); }
      else if (line.startsWith('R:')) files.push(dir === '' ? line.slice(2) : `${dir}/${line.slice(2)}`);
    }
    out.push({ pkg, block: `${block.replace(/\n+$/, '')}\n`, files, dirs });
  }
  return out;
}

const FIELD_ORDER = 'CPVASITULomtckDpirq';

/** The header of a package's block: its index fields in apk's order. */
export function headerOf(pkg: ApkPackage): string {
  const fields = new Map<string, string>();
  for (const [k, v] of pkg.raw) fields.set(k, v);
  fields.set('C', pkg.checksum);
  // apk writes U: and L: even when empty (a --virtual package has neither); other empty fields it leaves out.
  return [...FIELD_ORDER].filter((k) => fields.has(k) && (fields.get(k) !== '' || k === 'U' || k === 'L')).map((k) => `${k}:${fields.get(k)}\n`).join('');
}

export interface InstalledFile { path: string; type: 'file' | 'symlink' | 'hardlink' | 'directory'; mode: number; uid: number; gid: number; checksum?: string }

/** The file list of a block, grouped by directory in the order the package lists them. */
export function fileListOf(entries: readonly InstalledFile[]): { text: string; files: string[]; dirs: string[] } {
  const dirs = new Map<string, { meta?: InstalledFile; files: InstalledFile[] }>();
  const dirOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
  for (const e of entries) {
    if (e.type === 'directory') {
      const d = dirs.get(e.path) ?? { files: [] };
      d.meta = e;
      dirs.set(e.path, d);
      continue;
    }
    const parent = dirOf(e.path);
    const d = dirs.get(parent) ?? { files: [] };
    d.files.push(e);
    dirs.set(parent, d);
  }
  let text = '';
  const files: string[] = [];
  for (const [dir, d] of dirs) {
    text += `F:${dir}\n`;
    const m = d.meta;
    if (m && (m.uid !== 0 || m.gid !== 0 || (m.mode & 0o7777) !== 0o755)) text += `M:${m.uid}:${m.gid}:${(m.mode & 0o7777).toString(8)}\n`;
    for (const f of d.files) {
      text += `R:${f.path.slice(dir === '' ? 0 : dir.length + 1)}\n`;
      if (f.uid !== 0 || f.gid !== 0 || (f.mode & 0o7777) !== 0o644) text += `a:${f.uid}:${f.gid}:${(f.mode & 0o7777).toString(8)}\n`;
      if (f.checksum) text += `Z:${f.checksum}\n`;
      files.push(f.path);
    }
  }
  return { text, files, dirs: [...dirs.keys()] };
}
