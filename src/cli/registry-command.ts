import type { Command } from 'commander';
import { OcimakeError } from '../errors.js';

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
    .option('--log', 'log one line per request to stderr')
    .action(async (o: { addr: string; root?: string; htpasswd?: string; tokenAuth?: boolean; log?: boolean }) => {
      const m = /^(.*):(\d+)$/.exec(o.addr);
      if (!m) throw new OcimakeError('FLAG_INVALID', `--addr "${o.addr}" is not host:port`, { hint: 'e.g. --addr 127.0.0.1:5000 or --addr 0.0.0.0:0' });
      const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
      const { startRegistry } = await import('../../registry/index.js');
      const running = await startRegistry({
        host,
        port: Number(m[2]),
        ...(o.root ? { root: o.root } : {}),
        ...(o.log ? { log: (line: string) => process.stderr.write(`${line}\n`) } : {}),
        ...(o.htpasswd ? { auth: { htpasswd: o.htpasswd, realm: o.tokenAuth ? 'token' : 'basic' } } : {}),
      });
      process.stdout.write(`ocimake registry listening on ${running.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => { void running.close().then(resolve); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
