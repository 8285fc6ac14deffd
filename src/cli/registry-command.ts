import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { OcimakeError } from '../errors.js';
import type { AuthOptions } from '../../registry/auth.js';

/** Registers `ocimake registry serve`, the embedded OCI distribution registry. */
export function registerRegistry(program: Command): void {
  const reg = program.command('registry').description('the embedded OCI distribution registry');
  reg
    .command('serve')
    .description('serve an OCI registry (in memory, or on disk with --root) until SIGINT/SIGTERM')
    .option('--addr <host:port>', 'address to listen on (port 0 picks a free one)', '127.0.0.1:5000')
    .option('--root <dir>', 'store blobs and manifests in this directory (crash-safe); in memory otherwise')
    .option('--htpasswd <file>', 'require basic auth against an htpasswd file (bcrypt or {SHA})')
    .option('--token-auth', 'with --htpasswd: answer with a Bearer challenge and serve /token, like Docker Hub')
    .option('--auth-config <file>', 'JSON: {"users":{…},"htpasswd":"file","realm":"basic|token","permissions":{"user":{"pull":["repo/*"],"push":[…]}}}')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--log', 'log one line per request to stderr')
    .option('--enable-delete', 'allow DELETE of manifests and blobs (off by default, as in distribution)')
    .option('--max-memory <bytes>', 'in memory: the most held at once; uploads past it are refused (default 2 GiB)')
    .option('--max-uploads <n>', 'open upload sessions at most, all users together; new ones past it get TOOMANYREQUESTS (default 1000)')
    .option('--max-uploads-per-user <n>', 'open upload sessions one user (or, without auth, one client address) may hold (default 100)')
    .action(async (o: { addr: string; root?: string; htpasswd?: string; tokenAuth?: boolean; authConfig?: string; tlsCert?: string; tlsKey?: string; log?: boolean; enableDelete?: boolean; maxMemory?: string; maxUploads?: string; maxUploadsPerUser?: string }) => {
      const m = /^(.*):(\d+)$/.exec(o.addr);
      if (!m) throw new OcimakeError('FLAG_INVALID', `--addr "${o.addr}" is not host:port`, { hint: 'e.g. --addr 127.0.0.1:5000 or --addr 0.0.0.0:0' });
      const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
      const port = Number(m[2]);
      if (port > 65535) throw new OcimakeError('FLAG_INVALID', `--addr ${o.addr}: port ${port} is out of range`, { hint: 'ports go from 1 to 65535; 0 picks a free one' });
      if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new OcimakeError('FLAG_INVALID', '--tls-cert and --tls-key go together', { hint: 'pass both, or neither for plain HTTP' });
      const auth = await loadAuth(o);
      const { startRegistry } = await import('../../registry/index.js');
      const running = await startRegistry({
        host,
        port,
        ...(o.root ? { root: o.root } : {}),
        ...(o.log ? { log: (line: string) => process.stderr.write(`${line}\n`) } : {}),
        ...(auth ? { auth } : {}),
        ...(o.tlsCert && o.tlsKey ? { tls: { cert: o.tlsCert, key: o.tlsKey } } : {}),
        ...(o.enableDelete ? { deletes: true } : {}),
        ...(o.maxMemory !== undefined ? { maxMemoryBytes: bytesFlag(o.maxMemory) } : {}),
        ...(o.maxUploads !== undefined ? { maxUploads: countFlag('--max-uploads', o.maxUploads) } : {}),
        ...(o.maxUploadsPerUser !== undefined ? { maxUploadsPerUser: countFlag('--max-uploads-per-user', o.maxUploadsPerUser) } : {}),
      }).catch((err: NodeJS.ErrnoException) => { throw listenError(o.addr, port, err); });
      process.stdout.write(`ocimake registry listening on ${running.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => { void running.close().then(resolve); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
  reg
    .command('htpasswd')
    .description('print an htpasswd line (bcrypt) for --htpasswd, or set the user in FILE: a minimal runner has no htpasswd tool')
    .argument('<user>', 'user name')
    .option('--password-stdin', 'read the password from stdin (else it is asked for on the terminal)')
    .option('--file <file>', 'add the user to this htpasswd file, or replace the line it has (created if missing)')
    .option('--cost <n>', 'bcrypt cost (4-15)', '10')
    .action(async (user: string, o: { passwordStdin?: boolean; file?: string; cost: string }) => {
      if (user === '' || /[:\s]/.test(user)) throw new OcimakeError('FLAG_INVALID', `"${user}" cannot be an htpasswd user name`, { hint: 'a user name has no colon and no white space' });
      const cost = Number(o.cost);
      if (!Number.isInteger(cost) || cost < 4 || cost > 15) throw new OcimakeError('FLAG_INVALID', `--cost ${o.cost}: bcrypt's cost goes from 4 to 15`, { hint: '10 is usual; each step doubles the time of a login' });
      const { readAll, prompt } = await import('./login-command.js');
      const password = o.passwordStdin ? (await readAll()).replace(/\r?\n$/, '') : process.stdin.isTTY ? await prompt('Password: ', true) : '';
      if (!password) throw new OcimakeError('FLAG_INVALID', `no password for ${user}`, { hint: `pipe it in: echo "$PASSWORD" | ocimake registry htpasswd ${user} --password-stdin` });
      const bcrypt = (await import('bcryptjs')).default;
      const line = `${user}:${bcrypt.hashSync(password, cost)}`;
      if (!o.file) { process.stdout.write(`${line}\n`); return; }
      const { writeFileAtomic } = await import('../util/atomic-file.js');
      const old = await readFile(o.file, 'utf8').catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return ''; throw err; });
      const kept = old.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(`${user}:`));
      await writeFileAtomic(o.file, `${[...kept, line].join('\n')}\n`, 0o600);
      process.stderr.write(`${old.split('\n').some((l) => l.startsWith(`${user}:`)) ? 'updated' : 'added'} ${user} in ${o.file}\n`);
    });
}

/** Why the registry could not listen, in words, with what to do. */
function listenError(addr: string, port: number, err: NodeJS.ErrnoException): unknown {
  switch (err.code) {
    case 'EADDRINUSE': return new OcimakeError('ADDR_IN_USE', `cannot listen on ${addr}: the address is already in use`, { hint: `another process listens on port ${port}; pick another with --addr 127.0.0.1:PORT, or --addr 127.0.0.1:0 for a free one` });
    case 'EACCES': return new OcimakeError('ADDR_DENIED', `cannot listen on ${addr}: permission denied`, { hint: 'ports below 1024 need privileges; use a port of 1024 or more' });
    case 'EADDRNOTAVAIL': case 'ENOTFOUND': return new OcimakeError('ADDR_INVALID', `cannot listen on ${addr}: no such address on this host`, { hint: 'use 127.0.0.1 (this host only) or 0.0.0.0 (every interface)' });
    case 'ENOENT': case 'EISDIR': return new OcimakeError('FILE_UNREADABLE', `cannot start the registry: ${err.message}`, { hint: 'check the paths given to --root, --tls-cert, --tls-key and --htpasswd' });
    default: return err;
  }
}

async function loadAuth(o: { htpasswd?: string; tokenAuth?: boolean; authConfig?: string }): Promise<AuthOptions | undefined> {
  let auth: AuthOptions | undefined;
  if (o.authConfig) {
    try {
      auth = JSON.parse(await readFile(o.authConfig, 'utf8')) as AuthOptions;
    } catch (err) {
      throw new OcimakeError('CONFIG_INVALID', `cannot read --auth-config ${o.authConfig}: ${(err as Error).message}`, { hint: 'it is a JSON file: {"users":{"name":"password"},"permissions":{"name":{"push":["team/*"]}}}' });
    }
  }
  if (o.htpasswd) auth = { ...(auth ?? {}), htpasswd: o.htpasswd };
  if (o.tokenAuth) auth = { ...(auth ?? {}), realm: 'token' };
  return auth;
}

function bytesFlag(v: string): number {
  const m = /^(\d+)\s*([kmg]i?b?)?$/i.exec(v.trim());
  if (!m) throw new OcimakeError('FLAG_INVALID', `--max-memory "${v}" is not a size`, { hint: 'e.g. --max-memory 512MiB or --max-memory 2147483648' });
  const unit = (m[2] ?? '').toLowerCase()[0];
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
}

/** A whole number above 0, from a flag. */
function countFlag(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) throw new OcimakeError('FLAG_INVALID', `${flag} "${v}" is not a whole number above 0`, { hint: `e.g. ${flag} 100` });
  return n;
}
