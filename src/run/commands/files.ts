import { RunError } from '../errors.js';
import { Inode, baseOf, joinPath, parentOf, type Node } from '../fs/run-fs.js';
import { absPath, newMeta, type Command, type ShellState } from '../shell/state.js';
import { eachOperand, parseOpts } from './opts.js';
import { applyMode } from './mode.js';
import { idsFor } from './ids.js';

// File commands with busybox's semantics on Alpine: what each does to the filesystem.

/** Resolves an operand: the parent followed, the last component as `follow` says. */
async function res(sh: ShellState, p: string, follow: boolean) {
  const abs = absPath(sh, p);
  // A trailing slash means the directory itself, followed.
  return sh.fs.resolve(abs, follow || /\/\.?$/.test(p));
}

async function parentIsDir(sh: ShellState, path: string, shown: string): Promise<void> {
  const n = await sh.fs.at(parentOf(path));
  if (!n) throw new RunError(`${shown}: No such file or directory`);
  if (n.type !== 'directory') throw new RunError(`${shown}: Not a directory`);
}

/** Every path at and below `path` (pre-order), with its node. */
export async function tree(sh: ShellState, path: string): Promise<[string, Node][]> {
  const out: [string, Node][] = [];
  const visit = async (p: string) => {
    const n = await sh.fs.at(p);
    if (!n) return;
    out.push([p, n]);
    if (n.type === 'directory') for (const name of await sh.fs.readdir(p)) await visit(joinPath(p, name));
  };
  await visit(path);
  return out;
}

/** A copy of a node for another path: files share bytes, not the inode. */
function cloneNode(n: Node, meta?: { mode: number; uid: number; gid: number }): Node {
  switch (n.type) {
    case 'file': return { type: 'file', ino: n.ino.copy({ ...(meta ?? n.ino.meta) }) };
    case 'directory': return { type: 'directory', meta: { ...(meta ?? n.meta) }, opaque: false };
    case 'symlink': return { type: 'symlink', meta: { ...(meta ?? n.meta) }, target: n.target };
    case 'other': return { ...n, meta: { ...(meta ?? n.meta) } };
  }
}

/** Puts a node at a path where something may have been removed (a directory then hides what was below). */
async function place(sh: ShellState, path: string, n: Node): Promise<void> {
  if (n.type === 'directory') {
    const existing = await sh.fs.at(path);
    if (existing?.type === 'directory') { sh.fs.set(path, { ...n, opaque: existing.opaque }); return; }
    await sh.fs.makeDir(path, n.meta);
    return;
  }
  sh.fs.set(path, n);
}

const ln: Command = async (args, _io, sh) => {
  const o = parseOpts('ln', args, 'sfnbvT');
  if (o.rest.length < 2) throw new RunError('usage: ln [-sfn] TARGET... LINK|DIR');
  const targets = o.rest.slice(0, -1);
  const last = o.rest[o.rest.length - 1]!;
  // A symlink LINK is followed only to see whether it names a directory (unless -n or -T);
  // a link to a file is replaced itself, never the file it points at.
  const followed = await res(sh, last, !o.flags.has('n') && !o.flags.has('T'));
  const intoDir = followed.node?.type === 'directory' && !o.flags.has('T');
  const dest = intoDir ? followed : await res(sh, last, false);
  if (targets.length > 1 && !intoDir) throw new RunError(`${last}: Not a directory`);
  for (const t of targets) {
    const path = intoDir ? joinPath(dest.path, baseOf(t.replace(/\/+$/, ''))) : dest.path;
    const existing = await sh.fs.at(path);
    if (existing) {
      if (!o.flags.has('f')) throw new RunError(`${path}: File exists`);
      if (existing.type === 'directory') throw new RunError(`${path}: Is a directory`);
      await sh.fs.remove(path);
    }
    await parentIsDir(sh, path, last);
    if (o.flags.has('s')) {
      sh.fs.set(path, { type: 'symlink', meta: { mode: 0o777, uid: sh.user.uid, gid: sh.user.gid }, target: t });
    } else {
      const src = await res(sh, t, false);
      if (!src.node) throw new RunError(`${t}: No such file or directory`);
      if (src.node.type !== 'file') throw new RunError(`${t}: hard links are made to regular files only here`);
      sh.fs.set(src.path, src.node);
      sh.fs.set(path, { type: 'file', ino: src.node.ino });
    }
  }
  return 0;
};

const mkdir: Command = async (args, io, sh) => {
  const o = parseOpts('mkdir', args, 'pm:v', { parents: 'p', mode: 'm' });
  const mode = o.values.get('m')?.at(-1);
  return eachOperand('mkdir', o.rest, io, async (a) => {
    const abs = absPath(sh, a);
    sh.fs.checkLength(abs);
    const segs = abs.split('/').filter((s) => s !== '' && s !== '.');
    // -p walks down once: each level is looked up under the one before (resolved in full only
    // through a symlink or ..), so 2,000 levels cost 2,000 lookups, not 2,000 walks from the root.
    let base: string | undefined;
    for (let i = o.flags.has('p') ? 1 : segs.length; i <= segs.length; i++) {
      const seg = segs[i - 1]!;
      let at = base === undefined || seg === '..' ? undefined : { path: joinPath(base, seg), node: await sh.fs.at(joinPath(base, seg)) };
      if (!at || at.node?.type === 'symlink') at = await sh.fs.resolve(`/${segs.slice(0, i).join('/')}`, true);
      const { path, node } = at;
      base = path;
      const final = i === segs.length;
      if (node) {
        if (node.type !== 'directory') throw new RunError(`can't create directory '${a}': File exists`);
        if (final && !o.flags.has('p')) throw new RunError(`can't create directory '${a}': File exists`);
        continue;
      }
      await parentIsDir(sh, path, `can't create directory '${a}'`);
      const meta = newMeta(sh, 0o777);
      if (final && mode !== undefined) meta.mode = applyMode(mode, 0o777 & ~sh.umask, true, sh.umask);
      else if (!final) meta.mode |= 0o300; // busybox: parents get u+wx
      await sh.fs.makeDir(path, meta);
      if (o.flags.has('v')) io.out(`created directory: '${final ? a : shownPrefix(a, segs.length, i)}'\n`);
    }
  });
};

/** What busybox's mkdir -pv prints for a parent: the operand's first components, with a `/`. */
function shownPrefix(operand: string, total: number, i: number): string {
  const own = operand.split('/').filter((s) => s !== '' && s !== '.');
  const keep = own.length - (total - i);
  return `${operand.startsWith('/') ? '/' : ''}${own.slice(0, Math.max(0, keep)).join('/')}/`;
}

const rm: Command = async (args, io, sh) => {
  const o = parseOpts('rm', args, 'rRfiv', { recursive: 'r', force: 'f' });
  const recursive = o.flags.has('r') || o.flags.has('R');
  let status = 0;
  for (const a of o.rest) {
    const { path, node } = await res(sh, a.replace(/\/+$/, '') || '/', false);
    if (path === '' ) { io.err(`rm: can't remove '/'\n`); status = 1; continue; }
    if (!node) { if (!o.flags.has('f')) { io.err(`rm: can't remove '${a}': No such file or directory\n`); status = 1; } continue; }
    if (node.type === 'directory' && !recursive) { io.err(`rm: '${a}' is a directory\n`); status = 1; continue; }
    await sh.fs.remove(path);
  }
  return status;
};

const rmdir: Command = async (args, io, sh) => {
  const o = parseOpts('rmdir', args, 'pv', { parents: 'p' });
  let status = 0;
  for (const a of o.rest) {
    let p = a.replace(/\/+$/, '');
    for (;;) {
      const { path, node } = await res(sh, p, false);
      if (!node) { io.err(`rmdir: '${a}': No such file or directory\n`); status = 1; break; }
      if (node.type !== 'directory') { io.err(`rmdir: '${a}': Not a directory\n`); status = 1; break; }
      if ((await sh.fs.readdir(path)).length > 0) { io.err(`rmdir: '${p}': Directory not empty\n`); status = 1; break; }
      await sh.fs.remove(path);
      if (!o.flags.has('p') || !p.includes('/')) break;
      p = p.slice(0, p.lastIndexOf('/'));
      if (p === '') break;
    }
  }
  return status;
};

const touch: Command = async (args, io, sh) => {
  const o = parseOpts('touch', args, 'cahmd:t:r:', { 'no-create': 'c' });
  let status = 0;
  for (const a of o.rest) {
    const { path, node } = await res(sh, a, true);
    if (node || o.flags.has('c')) continue;
    try {
      await parentIsDir(sh, path, `'${a}'`);
      sh.fs.set(path, { type: 'file', ino: new Inode(newMeta(sh, 0o666), Buffer.alloc(0)) });
    } catch (e) {
      if (!(e instanceof RunError)) throw e;
      io.err(`touch: ${a}: No such file or directory\n`);
      status = 1;
    }
  }
  return status;
};

/** Copies one tree (cp) or moves it (mv keeps everything). */
async function copyTree(sh: ShellState, from: string, to: string, how: { preserve: boolean; keepLinks: boolean; recursive: boolean; shown: string }): Promise<void> {
  const top = await sh.fs.at(from);
  if (!top) throw new RunError(`can't stat '${how.shown}': No such file or directory`);
  if (top.type === 'directory' && !how.recursive) throw new RunError(`omitting directory '${how.shown}'`);
  if (to === from || to.startsWith(`${from}/`)) throw new RunError(`cannot copy a directory, '${how.shown}', into itself`);
  for (const [p, n] of await tree(sh, from)) {
    const dest = p === from ? to : `${to}${p.slice(from.length)}`;
    const existing = await sh.fs.at(dest);
    let node = n;
    if (n.type === 'symlink' && !how.keepLinks) {
      const r = await sh.fs.resolve(`/${p}`, true);
      if (!r.node) throw new RunError(`can't stat '${p}': No such file or directory`);
      node = r.node;
    }
    if (node.type === 'other') throw new RunError(`'${p}': special files are not copied here`);
    if (existing?.type === 'directory' && node.type === 'directory') {
      if (how.preserve) sh.fs.set(dest, { ...existing, meta: { ...node.meta } });
      continue;
    }
    if (existing?.type === 'file' && node.type === 'file' && !how.preserve) {
      // An existing file keeps its inode, owner and mode; only the bytes change.
      existing.ino.data = await sh.fs.bytes(node);
      existing.ino.lower = undefined;
      sh.fs.set(dest, existing);
      continue;
    }
    if (existing) await sh.fs.remove(dest);
    const meta = how.preserve ? undefined : node.type === 'symlink' ? { mode: 0o777, uid: sh.user.uid, gid: sh.user.gid } : newMeta(sh, (node.type === 'file' ? node.ino.meta.mode : node.meta.mode));
    await place(sh, dest, cloneNode(node, meta));
  }
}

const cp: Command = async (args, io, sh) => {
  const o = parseOpts('cp', args, 'aRrpdPLfivnHlsTu', { recursive: 'R', archive: 'a', force: 'f' });
  const recursive = o.flags.has('a') || o.flags.has('R') || o.flags.has('r');
  const preserve = o.flags.has('a') || o.flags.has('p');
  const keepLinks = o.flags.has('a') || o.flags.has('d') || o.flags.has('P') || (recursive && !o.flags.has('L'));
  if (o.rest.length < 2) throw new RunError('usage: cp [-arpf] SOURCE... DEST');
  const srcs = o.rest.slice(0, -1);
  const lastArg = o.rest[o.rest.length - 1]!;
  const dest = await res(sh, lastArg, true);
  const intoDir = dest.node?.type === 'directory' && !o.flags.has('T');
  if (srcs.length > 1 && !intoDir) throw new RunError(`'${lastArg}' is not a directory`);
  return eachOperand('cp', srcs, io, async (s) => {
    const src = await res(sh, s, !keepLinks || !recursive);
    const to = intoDir ? joinPath(dest.path, baseOf(src.path)) : dest.path;
    await parentIsDir(sh, to, `can't create '${lastArg}'`);
    await copyTree(sh, src.path, to, { preserve, keepLinks, recursive, shown: s });
  });
};

const mv: Command = async (args, _io, sh) => {
  const o = parseOpts('mv', args, 'fintvT', { force: 'f' });
  if (o.rest.length < 2) throw new RunError('usage: mv [-f] SOURCE... DEST');
  const srcs = o.rest.slice(0, -1);
  const lastArg = o.rest[o.rest.length - 1]!;
  const dest = await res(sh, lastArg, true);
  const intoDir = dest.node?.type === 'directory' && !o.flags.has('T');
  if (srcs.length > 1 && !intoDir) throw new RunError(`'${lastArg}' is not a directory`);
  for (const s of srcs) {
    const src = await res(sh, s.replace(/\/+$/, ''), false);
    if (!src.node) throw new RunError(`can't rename '${s}': No such file or directory`);
    const to = intoDir ? joinPath(dest.path, baseOf(src.path)) : dest.path;
    if (to === src.path) continue;
    await parentIsDir(sh, to, `can't rename '${s}'`);
    const existing = await sh.fs.at(to);
    if (existing?.type === 'directory' && src.node.type === 'directory' && (await sh.fs.readdir(to)).length > 0) throw new RunError(`can't rename '${s}': Directory not empty`);
    if (existing) await sh.fs.remove(to);
    // A rename keeps every inode: hardlinks and metadata move as they are.
    for (const [p, n] of await tree(sh, src.path)) {
      const d = p === src.path ? to : `${to}${p.slice(src.path.length)}`;
      if (n.type === 'directory') await place(sh, d, { ...n, meta: { ...n.meta }, opaque: false });
      else sh.fs.set(d, n);
    }
    await sh.fs.remove(src.path);
  }
  return 0;
};

/** Changes the metadata of a node in place (an inode shared by hardlinks changes for every name). */
export function setMeta(sh: ShellState, path: string, n: Node, f: (m: { mode: number; uid: number; gid: number }) => void): void {
  if (n.type === 'file') { f(n.ino.meta); sh.fs.set(path, n); return; }
  const copy = { ...n, meta: { ...n.meta } } as Node & { meta: { mode: number; uid: number; gid: number } };
  f(copy.meta);
  sh.fs.set(path, copy);
}

/** Applies `f` to each operand (followed) and, with -R, to everything below it (not followed). */
async function eachTarget(sh: ShellState, operands: string[], recursive: boolean, noDeref: boolean, f: (path: string, n: Node) => void): Promise<void> {
  for (const a of operands) {
    const { path, node } = await res(sh, a, !noDeref);
    if (!node) throw new RunError(`${a}: No such file or directory`);
    if (!recursive) { f(path, node); continue; }
    for (const [p, n] of await tree(sh, path)) f(p, n);
  }
}

const chmod: Command = async (args, _io, sh) => {
  // A mode may look like an option (-x, -w): take it as the first non-option operand.
  const flags = args.filter((a) => /^-[Rvcf]+$/.test(a));
  const rest = args.filter((a) => !/^-[Rvcf]+$/.test(a));
  const [mode, ...files] = rest;
  if (mode === undefined || files.length === 0) throw new RunError('usage: chmod [-R] MODE FILE...');
  await eachTarget(sh, files, flags.some((f) => f.includes('R')), false, (p, n) => {
    if (n.type === 'symlink') return; // chmod never changes a link itself
    setMeta(sh, p, n, (m) => { m.mode = applyMode(mode, m.mode, n.type === 'directory', sh.umask); });
  });
  return 0;
};

function chownCommand(groupOnly: boolean): Command {
  return async (args, _io, sh) => {
    const o = parseOpts(groupOnly ? 'chgrp' : 'chown', args, 'RhvcfLHP', { recursive: 'R' });
    const [spec, ...files] = o.rest;
    if (spec === undefined || files.length === 0) throw new RunError(`usage: ${groupOnly ? 'chgrp GROUP' : 'chown USER[:GROUP]'} FILE...`);
    const { uid, gid } = await idsFor(sh, groupOnly ? `:${spec}` : spec);
    await eachTarget(sh, files, o.flags.has('R'), o.flags.has('h'), (p, n) => {
      setMeta(sh, p, n, (m) => {
        if (uid !== undefined) m.uid = uid;
        if (gid !== undefined) m.gid = gid;
        if (n.type !== 'directory' && n.type !== 'symlink') m.mode &= ~0o6000; // chown clears setuid/setgid on files
      });
    });
    return 0;
  };
}

/** mkdir -p of `dir` (absolute), for commands that make the directories what they write needs (tar, unzip, install -D, curl --create-dirs). */
export async function mkdirParents(sh: ShellState, dir: string, status = 1): Promise<void> {
  const { node } = await sh.fs.resolve(dir, true);
  if (node?.type === 'directory') return;
  // The calling command's name is put before the message where its error is printed.
  if ((await mkdir(['-p', dir], { stdin: Buffer.alloc(0), out: () => {}, err: () => {} }, sh)) !== 0) throw new RunError(`can't create directory '${dir}'`, status);
}

export const FILE_COMMANDS: [string, Command][] = [
  ['ln', ln], ['mkdir', mkdir], ['rm', rm], ['rmdir', rmdir], ['touch', touch], ['cp', cp], ['mv', mv],
  ['chmod', chmod], ['chown', chownCommand(false)], ['chgrp', chownCommand(true)],
];
