import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { OcimakeError } from '../errors.js';
import { addNetworkFlags, transportFrom, type NetworkFlags } from './network-flags.js';

/** Registers `ocimake login` and `ocimake logout`, which read and write what `docker login` does. */
export function registerLogin(program: Command): void {
  addNetworkFlags(program
    .command('login')
    .description('check credentials against a registry and store them in the docker config (or its credential helper), as docker login does')
    .argument('[server]', 'registry host (default: docker.io)')
    .option('-u, --username <name>', 'user name')
    .option('-p, --password <password>', 'password or token (visible to other users of this machine: prefer --password-stdin)')
    .option('--password-stdin', 'read the password or token from stdin'))
    .action(async (server: string | undefined, o: { username?: string; password?: string; passwordStdin?: boolean } & NetworkFlags) => {
      const { loginTarget, storeCredentials, verifyLogin } = await import('../remote/login.js');
      const { registry } = loginTarget(server);
      if (o.password !== undefined && o.passwordStdin) throw new OcimakeError('FLAG_INVALID', '--password and --password-stdin are mutually exclusive');
      if (o.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      const username = o.username ?? (process.stdin.isTTY && !o.passwordStdin ? await prompt('Username: ', false) : undefined);
      if (!username) throw new OcimakeError('FLAG_INVALID', `no user name for ${registry}`, { hint: 'pass -u NAME (with --password-stdin in scripts)' });
      let password = o.password;
      if (o.passwordStdin) password = (await readAll()).replace(/\r?\n$/, '');
      else if (password === undefined && process.stdin.isTTY) password = await prompt('Password: ', true);
      if (!password) throw new OcimakeError('FLAG_INVALID', `no password for ${registry}`, { hint: 'pipe it in: echo "$TOKEN" | ocimake login -u NAME --password-stdin ' + registry });
      await verifyLogin(registry, username, password, transportFrom(o));
      const where = await storeCredentials(server, username, password);
      process.stdout.write(`Login Succeeded (${registry}; credentials stored in ${where})\n`);
    });

  program
    .command('logout')
    .description('remove stored credentials for a registry')
    .argument('[server]', 'registry host (default: docker.io)')
    .action(async (server: string | undefined) => {
      const { eraseCredentials, loginTarget } = await import('../remote/login.js');
      const { registry } = loginTarget(server);
      const erased = await eraseCredentials(server);
      process.stdout.write(erased ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
    });
}

export async function readAll(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks on the terminal; `secret` keeps what is typed off the screen. */
export function prompt(question: string, secret: boolean): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    if (secret) {
      const write = (rl as unknown as { _writeToOutput: (s: string) => void });
      write._writeToOutput = (s: string) => { if (s.includes(question)) process.stderr.write(question); };
    }
    rl.question(question, (answer) => {
      rl.close();
      if (secret) process.stderr.write('\n');
      resolve(answer.trim());
    });
  });
}
