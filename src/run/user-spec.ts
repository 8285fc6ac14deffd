import { OcimakeError } from '../errors.js';
import type { RunUser } from './shell/state.js';

/**
 * A RUN's USER (`name`, `uid`, `name:group`, `uid:gid`) as ids and home, from the text of the
 * stage's /etc/passwd and /etc/group (read lazily: root needs neither). Names must be in the
 * files; numbers need not be, as in Docker.
 */
export async function resolveRunUser(user: string, read: (file: '/etc/passwd' | '/etc/group') => Promise<string>): Promise<RunUser> {
  if (user === '' || user === 'root' || user === '0' || user === '0:0') return { uid: 0, gid: 0, home: '/root' };
  const rows = async (f: '/etc/passwd' | '/etc/group') => (await read(f)).split('\n').map((l) => l.split(':'));
  const [u = '', g] = user.split(':');
  const row = (await rows('/etc/passwd')).find((r) => r[0] === u || (/^\d+$/.test(u) && r[2] === u));
  if (!row && !/^\d+$/.test(u)) throw new OcimakeError('USER_INVALID', `USER "${user}" is not in the image's /etc/passwd`, { hint: 'add the user first (RUN adduser -D NAME), or use numeric ids: USER 1000:1000' });
  let gid = row ? Number(row[3]) : Number(u);
  if (g !== undefined && g !== '') {
    const grow = (await rows('/etc/group')).find((r) => r[0] === g || r[2] === g);
    if (!grow && !/^\d+$/.test(g)) throw new OcimakeError('USER_INVALID', `group "${g}" of USER "${user}" is not in the image's /etc/group`);
    gid = grow ? Number(grow[2]) : Number(g);
  }
  return { uid: row ? Number(row[2]) : Number(u), gid, home: row?.[5] || '/' };
}
