import { createHash } from 'node:crypto';
import { RunError } from '../errors.js';
import { Inode } from '../fs/run-fs.js';
import { absPath, type Command } from '../shell/state.js';
import { readDb } from './ids.js';
import { parseOpts } from './opts.js';
import { nativeCommand } from './system.js';

// The small commands scripts ask the system with: id, whoami, env, printenv, mktemp, sleep.
// Users and groups come from the stage's own /etc/passwd and /etc/group. mktemp's names are
// derived from the template and a count, not random, so the same RUN writes the same layer;
// sleep returns at once (a build gains nothing by waiting).

const id: Command = async (args, io, sh) => {
  const o = parseOpts('id', args, 'ugnrG');
  const passwd = (await readDb(sh, '/etc/passwd')) ?? [];
  const group = (await readDb(sh, '/etc/group')) ?? [];
  let uid = sh.user.uid;
  let gid = sh.user.gid;
  const who = o.rest[0];
  if (who !== undefined) {
    const row = passwd.find((f) => f[0] === who) ?? (/^\d+$/.test(who) ? passwd.find((f) => f[2] === who) : undefined);
    if (!row) throw new RunError(`unknown user ${who}`, 1);
    uid = Number(row[2]);
    gid = Number(row[3]);
  }
  const uname = passwd.find((f) => Number(f[2]) === uid)?.[0];
  const gname = (g: number) => group.find((f) => Number(f[2]) === g)?.[0];
  const name = uname ?? String(uid);
  const groups = [gid, ...group.filter((f) => (f[3] ?? '').split(',').includes(name) && Number(f[2]) !== gid).map((f) => Number(f[2]))];
  const show = (n: number, label: string | undefined) => (o.flags.has('n') ? label ?? String(n) : String(n));
  if (o.flags.has('u')) io.out(`${show(uid, uname)}\n`);
  else if (o.flags.has('g')) io.out(`${show(gid, gname(gid))}\n`);
  else if (o.flags.has('G')) io.out(`${groups.map((g) => show(g, gname(g))).join(' ')}\n`);
  else {
    const fmt = (n: number, label: string | undefined) => `${n}${label !== undefined ? `(${label})` : ''}`;
    const tail = who !== undefined ? ` groups=${groups.map((g) => fmt(g, gname(g))).join(',')}` : '';
    io.out(`uid=${fmt(uid, uname)} gid=${fmt(gid, gname(gid))}${tail}\n`);
  }
  return 0;
};

const whoami: Command = async (_args, io, sh) => {
  const row = ((await readDb(sh, '/etc/passwd')) ?? []).find((f) => Number(f[2]) === sh.user.uid);
  if (!row) throw new RunError(`unknown uid ${sh.user.uid}`, 1);
  io.out(`${row[0]}\n`);
  return 0;
};

/** env (print, or run a native command with variables added) and printenv. */
const env: Command = async (args, io, sh) => {
  let k = 0;
  const extra = new Map<string, string>();
  let clear = false;
  for (; k < args.length; k++) {
    const a = args[k]!;
    if (a === '-i' || a === '-') { clear = true; continue; }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(a);
    if (!m) break;
    extra.set(m[1]!, m[2]!);
  }
  const vars = new Map([...(clear ? [] : [...sh.exported].filter((n) => sh.vars.has(n)).map((n) => [n, sh.vars.get(n)!] as const)), ...extra]);
  if (k === args.length) {
    io.out([...vars].map(([n, v]) => `${n}=${v}\n`).join(''));
    return 0;
  }
  const cmd = nativeCommand(sh, args[k]!, 'env');
  const saved = [...extra.keys()].map((n) => [n, sh.vars.get(n), sh.exported.has(n)] as const);
  for (const [n, v] of extra) { sh.vars.set(n, v); sh.exported.add(n); }
  // -i: the command sees only the variables given here.
  const exported = sh.exported;
  if (clear) sh.exported = new Set(extra.keys());
  try {
    return await cmd(args.slice(k + 1), io, sh);
  } finally {
    sh.exported = exported;
    for (const [n, v, was] of saved) {
      if (v === undefined) sh.vars.delete(n); else sh.vars.set(n, v);
      if (!was) sh.exported.delete(n);
    }
  }
};

const printenv: Command = async (args, io, sh) => {
  if (args.length === 0) return env([], io, sh);
  let status = 0;
  for (const n of args) {
    if (sh.exported.has(n) && sh.vars.has(n)) io.out(`${sh.vars.get(n)}\n`);
    else status = 1;
  }
  return status;
};

/** Names made per RUN (its shell state): the count restarts with every RUN. */
const madeIn = new WeakMap<object, number>();

const mktemp: Command = async (args, io, sh) => {
  const o = parseOpts('mktemp', args, 'dqup:t');
  const template = o.rest[0] ?? 'tmp.XXXXXX';
  const dir = o.values.get('p')?.at(-1) ?? (o.rest[0] === undefined || o.flags.has('t') ? sh.vars.get('TMPDIR') || '/tmp' : undefined);
  const xs = /X+$/.exec(template)?.[0].length ?? 0;
  if (xs < 3) throw new RunError(`too few X's in template '${template}'`, 1);
  for (let tries = 0; tries < 1000; tries++) {
    const made = madeIn.get(sh) ?? 0;
    madeIn.set(sh, made + 1);
    const suffix = createHash('sha256').update(`${template}\0${made}`).digest('base64url').replace(/[-_]/g, 'x').slice(0, xs);
    const name = `${template.slice(0, -xs)}${suffix}`;
    const path = dir !== undefined ? `${dir.replace(/\/+$/, '')}/${name}` : name;
    const r = await sh.fs.resolve(absPath(sh, path), false);
    if (r.node) continue;
    const meta = { mode: o.flags.has('d') ? 0o700 : 0o600, uid: sh.user.uid, gid: sh.user.gid };
    if (!o.flags.has('u')) {
      if (o.flags.has('d')) await sh.fs.makeDir(r.path, meta);
      else sh.fs.set(r.path, { type: 'file', ino: new Inode(meta, Buffer.alloc(0)) });
    }
    io.out(`${path}\n`);
    return 0;
  }
  throw new RunError(`can't create a name from '${template}'`, 1);
};

const sleep: Command = async (args) => {
  if (args.length === 0) throw new RunError('usage: sleep N', 1);
  return 0;
};

export const IDENTITY_COMMANDS: [string, Command][] = [
  ['id', id], ['whoami', whoami], ['env', env], ['printenv', printenv], ['mktemp', mktemp], ['sleep', sleep],
];
