import { RunError } from '../errors.js';
import { Inode } from '../fs/run-fs.js';
import type { Command, ShellState } from '../shell/state.js';
import { readDb } from './ids.js';
import { parseOpts, last } from './opts.js';

// adduser/addgroup as busybox 1.36 (Alpine) writes /etc/passwd, /etc/group and /etc/shadow,
// checked against the real applets (test/interop/run-compare.test.ts); useradd/groupadd as
// shadow-utils does for the common flags.

const FIRST_SYSTEM_ID = 100;
const LAST_SYSTEM_ID = 999;
const LAST_ID = 60000;

/** Days since the epoch for shadow's "last changed": SOURCE_DATE_EPOCH's day (reproducible), else empty (no ageing). */
function lastChanged(sh: ShellState): string {
  const epoch = sh.vars.get('SOURCE_DATE_EPOCH');
  return epoch && /^\d+$/.test(epoch) ? String(Math.floor(Number(epoch) / 86400)) : '';
}

/** Busybox's update_passwd keeps the file as it was under `FILE-` (the old inode, linked before the new one is renamed in). */
function backup(sh: ShellState, path: string, meta: { mode: number; uid: number; gid: number }, data: Buffer): void {
  sh.fs.set(`${path}-`, { type: 'file', ino: new Inode({ ...meta }, data) });
}

async function appendLine(sh: ShellState, path: string, line: string, mode = 0o644): Promise<void> {
  const { path: p, node } = await sh.fs.resolve(path, true);
  if (node && node.type !== 'file') throw new RunError(`${path}: not a regular file`);
  const old = node ? await sh.fs.bytes(node) : Buffer.alloc(0);
  if (node) backup(sh, p, node.ino.meta, old);
  const sep = old.length > 0 && old[old.length - 1] !== 0x0a ? '\n' : '';
  const data = Buffer.concat([old, Buffer.from(`${sep}${line}\n`)]);
  sh.fs.set(p, { type: 'file', ino: new Inode(node ? { ...node.ino.meta } : { mode, uid: 0, gid: 0 }, data) });
}

async function rewrite(sh: ShellState, path: string, rows: string[][]): Promise<void> {
  const { path: p, node } = await sh.fs.resolve(path, true);
  if (!node || node.type !== 'file') throw new RunError(`${path}: No such file or directory`);
  backup(sh, p, node.ino.meta, await sh.fs.bytes(node));
  sh.fs.set(p, { type: 'file', ino: new Inode({ ...node.ino.meta }, Buffer.from(rows.map((r) => `${r.join(':')}\n`).join(''))) });
}

/** Adds a user to a group's member list (the fourth field of /etc/group), as `addgroup USER GROUP` does. */
async function addMember(sh: ShellState, user: string, group: string): Promise<void> {
  const rows = (await readDb(sh, '/etc/group')) ?? [];
  const row = rows.find((r) => r[0] === group);
  if (!row) throw new RunError(`unknown group ${group}`);
  while (row.length < 4) row.push('');
  const members = row[3] === '' ? [] : row[3]!.split(',');
  if (members.includes(user)) return;
  row[3] = [...members, user].join(',');
  await rewrite(sh, '/etc/group', rows);
}

function firstFree(start: number, max: number, taken: (id: number) => boolean, what: string): number {
  for (let id = start; id <= max; id++) if (!taken(id)) return id;
  throw new RunError(`no ${what}s left`);
}

const addgroup: Command = async (args, _io, sh) => {
  const o = parseOpts('addgroup', args, 'g:S', { gid: 'g', system: 'S' });
  const groups = (await readDb(sh, '/etc/group')) ?? [];
  if (o.rest.length === 2) {
    const [user, group] = o.rest as [string, string];
    const passwd = (await readDb(sh, '/etc/passwd')) ?? [];
    if (!passwd.some((r) => r[0] === user)) throw new RunError(`unknown user ${user}`);
    await addMember(sh, user, group);
    return 0;
  }
  const [name] = o.rest;
  if (name === undefined || o.rest.length > 1) throw new RunError('usage: addgroup [-g GID] [-S] [USER] GROUP');
  if (groups.some((r) => r[0] === name)) throw new RunError(`group '${name}' in use`);
  const taken = (id: number) => groups.some((r) => Number(r[2]) === id);
  let gid: number;
  const g = last(o, 'g');
  if (g !== undefined) {
    gid = Number(g);
    if (taken(gid)) throw new RunError(`gid '${gid}' in use`);
  } else gid = o.flags.has('S') ? firstFree(FIRST_SYSTEM_ID, LAST_SYSTEM_ID, taken, 'gid') : firstFree(LAST_SYSTEM_ID + 1, LAST_ID, taken, 'gid');
  await appendLine(sh, '/etc/group', `${name}:x:${gid}:`);
  return 0;
};

const adduser: Command = async (args, _io, sh) => {
  const o = parseOpts('adduser', args, 'h:g:s:G:DSHu:k:', { home: 'h', gecos: 'g', shell: 's', ingroup: 'G', 'disabled-password': 'D', system: 'S', 'no-create-home': 'H', uid: 'u', 'empty-password': 'D' });
  const [name, extraGroup] = o.rest;
  if (name === undefined || o.rest.length > 2) throw new RunError('usage: adduser [-h DIR] [-g GECOS] [-s SHELL] [-G GROUP] [-S] [-D] [-H] [-u UID] USER [GROUP]');
  const passwd = (await readDb(sh, '/etc/passwd')) ?? [];
  const groups = (await readDb(sh, '/etc/group')) ?? [];
  if (passwd.some((r) => r[0] === name)) {
    // "adduser USER GROUP" adds an existing user to a group.
    if (extraGroup !== undefined) { await addMember(sh, name, extraGroup); return 0; }
    throw new RunError(`user '${name}' in use`);
  }
  // busybox: -S implies -D (its option spec says "SD"), so the system-user idiom asks nothing.
  if (!o.flags.has('D') && !o.flags.has('S')) throw new RunError(`adduser without -D would ask for a password on a terminal; use adduser -D (or -S)`);
  const system = o.flags.has('S');
  let group = last(o, 'G');
  if (system && group === undefined) group = 'nogroup';
  let gid: number | undefined;
  if (group !== undefined) {
    const row = groups.find((r) => r[0] === group) ?? (/^\d+$/.test(group) ? groups.find((r) => r[2] === group) : undefined);
    if (!row) throw new RunError(`unknown group ${group}`);
    gid = Number(row[2]);
  }
  const uidTaken = (id: number) => passwd.some((r) => Number(r[2]) === id);
  const gidTaken = (id: number) => groups.some((r) => Number(r[2]) === id);
  let uid: number;
  const u = last(o, 'u');
  if (u !== undefined) {
    uid = Number(u);
    if (uidTaken(uid) || (gid === undefined && gidTaken(uid))) throw new RunError(`uid '${uid}' in use`);
  } else {
    // The first uid free (and free as a gid too, when the user gets a group of its own).
    uid = firstFree(system ? FIRST_SYSTEM_ID : LAST_SYSTEM_ID + 1, system ? LAST_SYSTEM_ID : LAST_ID, (id) => uidTaken(id) || (gid === undefined && gidTaken(id)), 'uid');
  }
  const ownGroup = gid === undefined;
  if (ownGroup) {
    if (groups.some((r) => r[0] === name)) throw new RunError(`group '${name}' in use`);
    gid = uid;
  }
  const home = last(o, 'h') ?? `/home/${name}`;
  const shell = last(o, 's') ?? (system ? '/sbin/nologin' : (sh.vars.get('SHELL') ?? '/bin/sh'));
  const gecos = last(o, 'g') ?? 'Linux User,,,';
  await appendLine(sh, '/etc/passwd', `${name}:x:${uid}:${gid}:${gecos}:${home}:${shell}`);
  const shadow = await sh.fs.resolve('/etc/shadow', true);
  if (shadow.node) await appendLine(sh, '/etc/shadow', `${name}:!:${lastChanged(sh)}:0:99999:7:::`, 0o640);
  if (ownGroup) await appendLine(sh, '/etc/group', `${name}:x:${gid}:`);
  else await addMember(sh, name, groups.find((r) => Number(r[2]) === gid)![0]!);
  if (!o.flags.has('H')) await makeHome(sh, home, uid, gid!, 0o2755);
  return 0;
};

/** The home directory: made (umask 0), then owned by the user, mode 2755 as busybox sets it; an existing one is only chowned. */
async function makeHome(sh: ShellState, home: string, uid: number, gid: number, mode: number): Promise<void> {
  const { path, node } = await sh.fs.resolve(home, true);
  if (node && node.type !== 'directory') throw new RunError(`${home}: File exists`);
  const parent = await sh.fs.at(path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');
  if (!parent || parent.type !== 'directory') throw new RunError(`${home}: No such file or directory`);
  if (node) sh.fs.set(path, { ...node, meta: { mode, uid, gid } });
  else await sh.fs.makeDir(path, { mode, uid, gid });
}

// shadow-utils: the same files, with login.defs' defaults (UID_MIN 1000, SYS_UID_MAX 999, allocated downward for -r).
const groupadd: Command = async (args, _io, sh) => {
  const o = parseOpts('groupadd', args, 'g:rfoK:p:', { gid: 'g', system: 'r', force: 'f', 'non-unique': 'o' });
  const [name] = o.rest;
  if (name === undefined) throw new RunError('usage: groupadd [-g GID] [-r] GROUP', 2);
  const groups = (await readDb(sh, '/etc/group')) ?? [];
  if (groups.some((r) => r[0] === name)) { if (o.flags.has('f')) return 0; throw new RunError(`group '${name}' already exists`, 9); }
  const gid = last(o, 'g') !== undefined ? Number(last(o, 'g')) : allocShadow(groups, o.flags.has('r'));
  await appendLine(sh, '/etc/group', `${name}:x:${gid}:`);
  return 0;
};

function allocShadow(rows: string[][], system: boolean): number {
  const ids = new Set(rows.map((r) => Number(r[2])));
  if (system) { for (let id = LAST_SYSTEM_ID; id >= 101; id--) if (!ids.has(id)) return id; throw new RunError('no system ids left', 4); }
  const used = [...ids].filter((id) => id >= 1000 && id <= LAST_ID);
  return used.length === 0 ? 1000 : Math.max(...used) + 1;
}

const useradd: Command = async (args, _io, sh) => {
  const o = parseOpts('useradd', args, 'u:g:G:d:s:c:mMrNUol', { uid: 'u', gid: 'g', groups: 'G', 'home-dir': 'd', shell: 's', comment: 'c', 'create-home': 'm', 'no-create-home': 'M', system: 'r', 'no-user-group': 'N', 'user-group': 'U', 'non-unique': 'o', 'no-log-init': 'l' });
  const [name] = o.rest;
  if (name === undefined) throw new RunError('usage: useradd [options] LOGIN', 2);
  const passwd = (await readDb(sh, '/etc/passwd')) ?? [];
  const groups = (await readDb(sh, '/etc/group')) ?? [];
  if (passwd.some((r) => r[0] === name)) throw new RunError(`user '${name}' already exists`, 9);
  const system = o.flags.has('r');
  const uid = last(o, 'u') !== undefined ? Number(last(o, 'u')) : allocShadow(passwd, system);
  let gid: number;
  const g = last(o, 'g');
  if (g !== undefined) {
    const row = groups.find((r) => r[0] === g || r[2] === g);
    if (!row) throw new RunError(`group '${g}' does not exist`, 6);
    gid = Number(row[2]);
  } else if (o.flags.has('N')) gid = 100;
  else {
    if (groups.some((r) => r[0] === name)) throw new RunError(`group ${name} exists - if you want to add this user to that group, use -g.`, 9);
    gid = groups.some((r) => Number(r[2]) === uid) ? allocShadow(groups, system) : uid;
    await appendLine(sh, '/etc/group', `${name}:x:${gid}:`);
  }
  const home = last(o, 'd') ?? `/home/${name}`;
  await appendLine(sh, '/etc/passwd', `${name}:x:${uid}:${gid}:${last(o, 'c') ?? ''}:${home}:${last(o, 's') ?? '/bin/sh'}`);
  if ((await sh.fs.resolve('/etc/shadow', true)).node) await appendLine(sh, '/etc/shadow', `${name}:!:${lastChanged(sh)}:0:99999:7:::`, 0o640);
  for (const extra of (last(o, 'G') ?? '').split(',').filter((x) => x !== '')) await addMember(sh, name, extra);
  if (o.flags.has('m') && !system) await makeHome(sh, home, uid, gid, 0o755 & ~sh.umask);
  return 0;
};

/** Takes a user out of a group's member list; false when it was not in it. */
async function removeMember(sh: ShellState, user: string, group: string): Promise<boolean> {
  const rows = (await readDb(sh, '/etc/group')) ?? [];
  const row = rows.find((r) => r[0] === group);
  if (!row) throw new RunError(`unknown group ${group}`);
  const members = (row[3] ?? '').split(',').filter((m) => m !== '');
  if (!members.includes(user)) return false;
  row[3] = members.filter((m) => m !== user).join(',');
  await rewrite(sh, '/etc/group', rows);
  return true;
}

/** Drops the rows of `file` whose first field is `name`; false when there was none. */
async function dropRow(sh: ShellState, file: string, name: string): Promise<boolean> {
  const rows = await readDb(sh, file);
  if (!rows || !rows.some((r) => r[0] === name)) return false;
  await rewrite(sh, file, rows.filter((r) => r[0] !== name));
  return true;
}

/** deluser [--remove-home] USER: its passwd and shadow rows, its group of the same name, its memberships (busybox 1.36 takes no GROUP). */
const deluser: Command = async (args, io, sh) => {
  const o = parseOpts('deluser', args, '', { 'remove-home': 'r' });
  const [user] = o.rest;
  if (user === undefined || o.rest.length > 1) throw new RunError('usage: deluser [--remove-home] USER');
  const row = ((await readDb(sh, '/etc/passwd')) ?? []).find((r) => r[0] === user);
  if (!row) throw new RunError(`unknown user ${user}`);
  await dropRow(sh, '/etc/passwd', user);
  await dropRow(sh, '/etc/shadow', user);
  for (const g of (await readDb(sh, '/etc/group')) ?? []) if ((g[3] ?? '').split(',').includes(user)) await removeMember(sh, user, g[0]!);
  await dropRow(sh, '/etc/group', user);
  if (o.flags.has('r') && row[5]) {
    const rm = sh.commands.get('rm')!;
    await rm(['-rf', row[5]], io, sh);
  }
  return 0;
};

/** delgroup GROUP, or delgroup USER GROUP (a membership). */
const delgroup: Command = async (args, _io, sh) => {
  const [a, b] = args;
  if (a === undefined || args.length > 2) throw new RunError('usage: delgroup [USER] GROUP');
  if (b !== undefined) {
    if (!(await removeMember(sh, a, b))) throw new RunError(`can't find ${a} in /etc/group`);
    return 0;
  }
  const g = ((await readDb(sh, '/etc/group')) ?? []).find((r) => r[0] === a);
  if (!g) throw new RunError(`unknown group ${a}`);
  if (((await readDb(sh, '/etc/passwd')) ?? []).some((r) => r[3] === g[2])) throw new RunError(`can't remove primary group of user`);
  await dropRow(sh, '/etc/group', a);
  return 0;
};

export const USER_COMMANDS: [string, Command][] = [['addgroup', addgroup], ['adduser', adduser], ['groupadd', groupadd], ['useradd', useradd], ['deluser', deluser], ['delgroup', delgroup]];
