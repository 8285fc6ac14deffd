import { writeApkTar, type ApkTarFile } from './apk-tar.js';
import { Inode } from '../fs/run-fs.js';
import type { ShellState } from '../shell/state.js';
import type { ApkPackage } from './index-file.js';
import type { OpenedPackage } from './package-file.js';
import { readTarBuffer } from './segments.js';

/** A file of the stage as text (followed through symlinks), or undefined when absent. */
export async function readText(sh: ShellState, path: string): Promise<string | undefined> {
  const { node } = await sh.fs.resolve(path, true);
  return node?.type === 'file' ? (await sh.fs.bytes(node)).toString('utf8') : undefined;
}

/** Writes a file of apk's state: an existing file keeps its owner and mode; a new one is root's, 0644. */
export async function writeText(sh: ShellState, path: string, data: string | Buffer): Promise<void> {
  const { path: p, node } = await sh.fs.resolve(path, true);
  const meta = node?.type === 'file' ? { ...node.ino.meta } : { mode: 0o644, uid: 0, gid: 0 };
  const segs = p.split('/');
  for (let i = 1; i < segs.length; i++) {
    const d = segs.slice(0, i).join('/');
    if (!(await sh.fs.at(d))) await sh.fs.makeDir(d, { mode: 0o755, uid: 0, gid: 0 });
  }
  sh.fs.set(p, { type: 'file', ino: new Inode(meta, Buffer.from(data)) });
}

const SCRIPT_ORDER = ['pre-install', 'post-install', 'pre-deinstall', 'post-deinstall', 'pre-upgrade', 'post-upgrade', 'trigger'];

/**
 * Rewrites /lib/apk/db/scripts.tar as apk does on every change: the scripts of every
 * installed package (NAME-VERSION.CHECKSUM.SCRIPT), by package name, then script kind.
 */
export async function rewriteScripts(sh: ShellState, installed: readonly ApkPackage[], added: readonly { p: ApkPackage; opened: OpenedPackage }[]): Promise<void> {
  const { node } = await sh.fs.resolve('/lib/apk/db/scripts.tar', true);
  const old = node?.type === 'file' ? await readTarBuffer(await sh.fs.bytes(node), 'scripts.tar') : [];
  const live = new Map<string, string>(installed.map((p) => [`${p.name}-${p.version}.${p.checksum}`, p.name] as const));
  const files: (ApkTarFile & { pkg: string })[] = [];
  for (const e of old) {
    const prefix = e.name.slice(0, e.name.lastIndexOf('.'));
    const name = live.get(prefix);
    if (name !== undefined && !added.some((a) => a.p.name === name)) files.push({ name: e.name, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, data: e.data, pkg: name, ...(e.uname ? { uname: e.uname } : {}), ...(e.gname ? { gname: e.gname } : {}) });
  }
  for (const { p, opened } of added) {
    for (const [script, e] of opened.scripts) {
      if (!SCRIPT_ORDER.includes(script.slice(1))) continue;
      files.push({ name: `${p.name}-${p.version}.${opened.checksum}${script}`, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, data: e.data, pkg: p.name });
    }
  }
  if (!node && files.length === 0) return;
  const kind = (n: string) => SCRIPT_ORDER.indexOf(n.slice(n.lastIndexOf('.') + 1));
  files.sort((a, b) => (a.pkg < b.pkg ? -1 : a.pkg > b.pkg ? 1 : kind(a.name) - kind(b.name)));
  await writeText(sh, '/lib/apk/db/scripts.tar', writeApkTar(files));
}

/** Records a package's trigger paths in /lib/apk/db/triggers ("CHECKSUM /path ..."). */
export async function writeTriggers(sh: ShellState, p: ApkPackage, opened: OpenedPackage): Promise<void> {
  const paths = opened.info.get('triggers')?.join(' ').split(/\s+/).filter((x) => x !== '');
  if (!paths || paths.length === 0) return;
  const old = (await readText(sh, '/lib/apk/db/triggers')) ?? '';
  await writeText(sh, '/lib/apk/db/triggers', `${old}${opened.checksum} ${paths.join(' ')}\n`);
  void p;
}
