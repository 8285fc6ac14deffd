import tar from 'tar-stream';
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

/** Adds a package's install scripts to /lib/apk/db/scripts.tar, named NAME-VERSION.CHECKSUM.SCRIPT as apk stores them. */
export async function appendScripts(sh: ShellState, p: ApkPackage, opened: OpenedPackage): Promise<void> {
  if (opened.scripts.size === 0) return;
  const { node } = await sh.fs.resolve('/lib/apk/db/scripts.tar', true);
  const old = node?.type === 'file' ? await readTarBuffer(await sh.fs.bytes(node), 'scripts.tar') : [];
  // This package's scripts of an earlier version go; every other package's stay.
  const keep = old.filter((e) => !(e.name.startsWith(`${p.name}-`) && /^\d/.test(e.name.slice(p.name.length + 1))));
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  const add = (name: string, data: Buffer, mode: number, mtime: Date) => new Promise<void>((resolve, reject) => pack.entry({ name, size: data.length, mode, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime }, data, (e) => (e ? reject(e) : resolve())));
  for (const e of keep) await add(e.name, e.data, e.mode, new Date(0));
  for (const [name, e] of opened.scripts) await add(`${p.name}-${p.version}.${opened.checksum}${name}`, e.data, 0o755, new Date(0));
  pack.finalize();
  await done;
  await writeText(sh, '/lib/apk/db/scripts.tar', Buffer.concat(chunks));
}

/** Records a package's trigger paths in /lib/apk/db/triggers ("CHECKSUM /path ..."). */
export async function writeTriggers(sh: ShellState, p: ApkPackage, opened: OpenedPackage): Promise<void> {
  const paths = opened.info.get('triggers')?.join(' ').split(/\s+/).filter((x) => x !== '');
  if (!paths || paths.length === 0) return;
  const old = (await readText(sh, '/lib/apk/db/triggers')) ?? '';
  await writeText(sh, '/lib/apk/db/triggers', `${old}${opened.checksum} ${paths.join(' ')}\n`);
  void p;
}
