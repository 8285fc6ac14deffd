import { RunError } from '../errors.js';
import type { ShellState } from '../shell/state.js';

export interface DbLine { fields: string[] }

/** Reads a colon file (/etc/passwd, /etc/group, /etc/shadow) of the RUN's filesystem; absent is empty. */
export async function readDb(sh: ShellState, path: string): Promise<string[][] | undefined> {
  const { node } = await sh.fs.resolve(path, true);
  if (!node || node.type !== 'file') return undefined;
  const text = (await sh.fs.bytes(node)).toString('utf8');
  return text.split('\n').filter((l) => l !== '').map((l) => l.split(':'));
}

/** Resolves `user[:group]` (or `user.group`, `:group`, `user:`) to ids from the stage's own files, as chown does. */
export async function idsFor(sh: ShellState, spec: string): Promise<{ uid?: number; gid?: number }> {
  const sep = spec.includes(':') ? ':' : spec.includes('.') ? '.' : undefined;
  const [u = '', g] = sep ? [spec.slice(0, spec.indexOf(sep)), spec.slice(spec.indexOf(sep) + 1)] : [spec, undefined];
  const passwd = (await readDb(sh, '/etc/passwd')) ?? [];
  const group = (await readDb(sh, '/etc/group')) ?? [];
  const out: { uid?: number; gid?: number } = {};
  if (u !== '') {
    const row = passwd.find((f) => f[0] === u);
    if (row) out.uid = Number(row[2]);
    else if (/^\d+$/.test(u)) out.uid = Number(u);
    else throw new RunError(`unknown user ${u}`);
    if (g === '' && row) out.gid = Number(row[3]); // "user:" means the user's login group
  }
  if (g !== undefined && g !== '') {
    const row = group.find((f) => f[0] === g);
    if (row) out.gid = Number(row[2]);
    else if (/^\d+$/.test(g)) out.gid = Number(g);
    else throw new RunError(`unknown group ${g}`);
  }
  return out;
}

/** The stage's user and group names by id, from its /etc/passwd and /etc/group (ls -l, stat). */
export async function idNames(sh: ShellState): Promise<{ users: Map<number, string>; groups: Map<number, string> }> {
  const byId = async (file: string) => new Map(((await readDb(sh, file)) ?? []).map((f) => [Number(f[2]), f[0]!] as const));
  return { users: await byId('/etc/passwd'), groups: await byId('/etc/group') };
}
