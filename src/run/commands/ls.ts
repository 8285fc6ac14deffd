import { joinPath, type Node } from '../fs/run-fs.js';
import { absPath, type Command } from '../shell/state.js';
import { idNames } from './ids.js';
import { parseOpts } from './opts.js';

// ls, for the RUN lines that show what a step left (`RUN ls -la /app`): names one per line as
// busybox prints them into a pipe or a log, and -l with modes, owners (names from the stage's
// own /etc/passwd and /etc/group; -n numeric) and sizes. Layers keep no times, so -l shows the
// build's fixed date, as the image would.

/** What ls -l and stat show as a node's size: a file's bytes, a link's target length, 4096 for a directory. */
export function sizeOf(n: Node): number {
  return n.type === 'file' ? n.ino.size : n.type === 'symlink' ? n.target.length : 4096;
}

export function modeString(n: Node): string {
  const type = n.type === 'directory' ? 'd' : n.type === 'symlink' ? 'l' : n.type === 'file' ? '-' : 'c';
  const m = n.type === 'file' ? n.ino.meta.mode : n.meta.mode;
  const bit = (b: number, c: string) => (m & b ? c : '-');
  const x = (b: number, s: number, lower: string, upper: string) => (m & s ? (m & b ? lower : upper) : m & b ? 'x' : '-');
  return type + bit(0o400, 'r') + bit(0o200, 'w') + x(0o100, 0o4000, 's', 'S') + bit(0o40, 'r') + bit(0o20, 'w') + x(0o10, 0o2000, 's', 'S') + bit(0o4, 'r') + bit(0o2, 'w') + x(0o1, 0o1000, 't', 'T');
}

export const lsCommand: Command = async (args, io, sh) => {
  const o = parseOpts('ls', args, 'laA1dRnhFpeiCx', { all: 'a', 'almost-all': 'A', directory: 'd', recursive: 'R', 'numeric-uid-gid': 'n' });
  const long = o.flags.has('l') || o.flags.has('n');
  const { users, groups } = await idNames(sh);
  const line = (name: string, n: Node): string => {
    if (!long) return name;
    const meta = n.type === 'file' ? n.ino.meta : n.meta;
    const who = (map: Map<number, string>, id: number) => (o.flags.has('n') ? String(id) : map.get(id) ?? String(id));
    const target = n.type === 'symlink' ? ` -> ${n.target}` : '';
    return `${modeString(n)} ${'1'.padStart(4)} ${who(users, meta.uid).padEnd(8)} ${who(groups, meta.gid).padEnd(8)} ${String(sizeOf(n)).padStart(9)} Jan  1  1970 ${name}${target}`;
  };
  let status = 0;
  const operands = o.rest.length === 0 ? ['.'] : o.rest;
  const show = async (shown: string, path: string, node: Node, header: boolean): Promise<void> => {
    const names = (await sh.fs.readdir(path)).filter((n) => o.flags.has('a') || o.flags.has('A') || !n.startsWith('.'));
    if (header) io.out(`${shown}:\n`);
    const out: string[] = [];
    let blocks = 0;
    const count = (n: Node) => { if (n.type !== 'symlink') blocks += Math.ceil(sizeOf(n) / 4096) * 4; };
    if (o.flags.has('a')) { out.push(line('.', node)); out.push(line('..', node)); count(node); count(node); }
    const dirs: [string, string, Node][] = [];
    for (const name of names) {
      const p = joinPath(path, name);
      const n = await sh.fs.at(p);
      if (!n) continue;
      out.push(line(name, n));
      count(n);
      if (o.flags.has('R') && n.type === 'directory') dirs.push([`${shown.replace(/\/+$/, '')}/${name}`, p, n]);
    }
    // busybox heads a long listing with the blocks used, in KiB: counted as ext4 would (4 KiB blocks).
    if (long) io.out(`total ${blocks}\n`);
    if (out.length > 0) io.out(`${out.join('\n')}\n`);
    for (const [s, p, n] of dirs) { io.out('\n'); await show(s, p, n, true); }
  };
  for (const [k, a] of operands.entries()) {
    const { path, node } = await sh.fs.resolve(absPath(sh, a), !o.flags.has('d') && !long);
    if (!node) { io.err(`ls: ${a}: No such file or directory\n`); status = 1; continue; }
    if (node.type !== 'directory' || o.flags.has('d')) { io.out(`${line(a, node)}\n`); continue; }
    if (k > 0) io.out('\n');
    await show(a, path, node, operands.length > 1 || o.flags.has('R'));
  }
  return status;
};
