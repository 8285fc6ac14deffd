import { OcimakeError } from '../../errors.js';
import { normalizeEntryPath } from '../../layer/entry.js';
import { Inode, joinPath, parentOf, type RunFs } from '../fs/run-fs.js';
import { plainPackage, type ApkPackage } from './index-file.js';
import { fileListOf, headerOf, type InstalledFile, type InstalledPackage } from './installed-db.js';
import type { OpenedPackage } from './package-file.js';

/** Names to ids from the stage's /etc/passwd and /etc/group, as apk resolves a package's uname/gname. */
export interface IdNames { user(name: string): number | undefined; group(name: string): number | undefined }

/**
 * Writes a verified package's files into the RUN's filesystem, as apk extracts them: owners
 * by name from the stage (falling back to the archive's ids), modes, symlinks and hardlinks
 * as archived; existing directories are kept. A file another installed package owns is
 * refused unless this package replaces it. Returns the package's installed-database block.
 */
export async function installPackage(rfs: RunFs, pkg: ApkPackage, opened: OpenedPackage, ids: IdNames, owners: ReadonlyMap<string, string>): Promise<InstalledPackage> {
  const what = `${pkg.name}-${pkg.version}`;
  const listed: InstalledFile[] = [];
  const written = new Map<string, string>(); // archive path → real path, for hardlinks
  for (const e of opened.files) {
    let path: string;
    try {
      path = normalizeEntryPath(e.name);
    } catch {
      throw new OcimakeError('APK_INVALID', `${what}: entry "${e.name}" escapes the root`);
    }
    if (path === '') continue;
    const uid = (e.uname ? ids.user(e.uname) : undefined) ?? e.uid;
    const gid = (e.gname ? ids.group(e.gname) : undefined) ?? e.gid;
    const meta = { mode: e.mode & 0o7777, uid, gid };
    const parent = await rfs.resolve(`/${parentOf(path)}`, true);
    if (parent.node && parent.node.type !== 'directory') throw new OcimakeError('APK_CONFLICT', `${what}: cannot install ${path}: /${parent.path} is not a directory`);
    const real = joinPath(parent.path, path.slice(path.lastIndexOf('/') + 1));
    const existing = await rfs.at(real);
    const sha1 = e.pax['APK-TOOLS.checksum.SHA1'];
    const checksum = sha1 ? `Q1${Buffer.from(sha1, 'hex').toString('base64')}` : undefined;
    if (e.type === 'directory') {
      if (existing?.type === 'symlink') {
        const followed = await rfs.resolve(`/${real}`, true);
        if (followed.node?.type === 'directory') { listed.push({ path, type: 'directory', ...meta }); continue; }
      }
      if (existing && existing.type !== 'directory') await rfs.remove(real);
      if (!existing || existing.type !== 'directory') {
        await ensureParents(rfs, real);
        await rfs.makeDir(real, meta);
      }
      listed.push({ path, type: 'directory', ...meta });
      continue;
    }
    const owner = owners.get(path);
    if (owner !== undefined && owner !== pkg.name && !pkg.replaces.includes(owner)) {
      throw new OcimakeError('APK_CONFLICT', `${what}: trying to overwrite ${path} owned by ${owner}`, { hint: `the two packages cannot be installed together; remove ${owner} first (apk del ${owner})` });
    }
    if (existing?.type === 'directory') throw new OcimakeError('APK_CONFLICT', `${what}: cannot install ${path}: a directory is there`);
    if (existing) await rfs.remove(real);
    await ensureParents(rfs, real);
    if (e.type === 'symlink') {
      rfs.set(real, { type: 'symlink', meta: { ...meta, mode: 0o777 }, target: e.linkname ?? '' });
      listed.push({ path, type: 'symlink', ...meta, mode: 0o777, ...(checksum ? { checksum } : {}) });
    } else if (e.type === 'link') {
      const target = written.get(normalizeEntryPath(e.linkname ?? ''));
      const t = target === undefined ? undefined : await rfs.at(target);
      if (!t || t.type !== 'file') throw new OcimakeError('APK_INVALID', `${what}: hardlink ${path} names ${e.linkname}, which the package did not write before it`);
      rfs.set(real, { type: 'file', ino: t.ino });
      listed.push({ path, type: 'hardlink', ...t.ino.meta, ...(checksum ? { checksum } : {}) });
    } else if (e.type === 'file') {
      rfs.set(real, { type: 'file', ino: new Inode(meta, e.data) });
      listed.push({ path, type: 'file', ...meta, ...(checksum ? { checksum } : {}) });
    } else {
      throw new OcimakeError('APK_UNSUPPORTED', `${what}: ${path} is a ${e.type}, which RUN does not create`);
    }
    written.set(path, real);
  }
  const list = fileListOf(listed);
  const mine = { ...plainPackage(pkg), checksum: opened.checksum };
  return { pkg: mine, block: `${headerOf(mine)}${list.text}`, files: list.files, dirs: list.dirs };
}

/** Makes missing parent directories (0755 root), as apk does for a path whose directory no package lists. */
async function ensureParents(rfs: RunFs, real: string): Promise<void> {
  const segs = real.split('/');
  for (let i = 1; i < segs.length; i++) {
    const p = segs.slice(0, i).join('/');
    const n = await rfs.at(p);
    if (!n) await rfs.makeDir(p, { mode: 0o755, uid: 0, gid: 0 });
  }
}

/** Removes a package's files (and its directories that end up empty and no other package lists). */
export async function removePackage(rfs: RunFs, inst: InstalledPackage, keepFiles: ReadonlySet<string>, otherDirs: ReadonlySet<string>): Promise<void> {
  for (const f of inst.files) {
    if (keepFiles.has(f)) continue;
    const r = await rfs.resolve(`/${f}`, false);
    if (r.node && r.node.type !== 'directory') await rfs.remove(r.path);
  }
  for (const d of [...inst.dirs].sort().reverse()) {
    if (d === '' || otherDirs.has(d)) continue;
    const r = await rfs.resolve(`/${d}`, true);
    if (r.node?.type === 'directory' && (await rfs.readdir(r.path)).length === 0) await rfs.remove(r.path);
  }
}
