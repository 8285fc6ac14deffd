import { Command, CommanderError } from 'commander';
import { OcimakeError } from '../errors.js';
import { registerBuild, registerLock } from './build-command.js';
import { registerRegistry } from './registry-command.js';
import { registerInspect } from './inspect-command.js';
import { registerExtract } from './extract-command.js';
import { registerLogin } from './login-command.js';
import { registerPush } from './push-command.js';
import { registerCache } from './cache-command.js';
import { registerVerify } from './verify-command.js';
import { registerSign } from './sign-command.js';
import { registerGithubAction } from './github-action.js';
import { registerImagetools } from './imagetools-command.js';
import { removeTrackedTemps } from '../util/temp-files.js';
import { endSandboxes } from '../run/exec/sandbox.js';
import { allowReexec, forwardToInner, innerRunning, watchOuter } from './reexec.js';
import { takeExitCode } from './exit-code.js';
import { fsErrorInWords } from '../util/fs-paths.js';
import { redactUrlCredentials } from '../util/redact.js';
import { allowHeapGovernance } from '../util/heap.js';

export { version } from './version.js';
import { version } from './version.js';

/** Builds the command tree. Each command parses flags and calls one library function. */
export function program(): Command {
  const p = new Command('ocimake')
    .description('Build OCI images from Dockerfiles without a daemon, root or container runtime.')
    .version(version(), '-v, --version')
    .showHelpAfterError('(run "ocimake --help" for usage)')
    // No "did you mean": it turned --pull and --ssh into --push, a publish.
    .showSuggestionAfterError(false)
    .exitOverride();
  registerBuild(p);
  registerLock(p);
  registerGithubAction(p, (argv) => main(argv));
  registerImagetools(p);
  registerInspect(p);
  registerExtract(p);
  registerRegistry(p);
  registerPush(p);
  registerLogin(p);
  registerCache(p);
  registerSign(p);
  registerVerify(p);
  p.command('limits')
    .description('list the limits ocimake puts on what it reads (images, registries, Dockerfiles) and the variables that raise them')
    .action(async () => { const { describeLimits } = await import('../util/limits.js'); process.stdout.write(describeLimits()); });
  p.command('version')
    .description('print the version of ocimake and of the Node.js running it')
    .action(() => { process.stdout.write(`ocimake ${version()} (node ${process.version}, ${process.platform}/${process.arch})\n`); });
  return p;
}

/** Runs the CLI; returns the exit code. Errors go to stderr, stacks only with OCIMAKE_DEBUG=1. */
export async function main(argv: string[]): Promise<number> {
  try {
    takeExitCode();
    await program().parseAsync(argv, { from: 'user' });
    return takeExitCode();
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (isClosedStdout(err)) return CLOSED_PIPE_EXIT;
    reportError(err);
    return 1;
  }
}

/** Prints an error as one `error:` line (and a `hint:`), credentials in URLs redacted; the stack only with OCIMAKE_DEBUG=1. */
export function reportError(err: unknown): void {
  const say = (line: string) => process.stderr.write(`${redactUrlCredentials(line)}\n`);
  if (err instanceof OcimakeError) {
    say(`error: ${err.message}`);
    if (err.hint) say(`hint: ${err.hint}`);
  } else {
    const words = fsErrorInWords(err);
    say(`error: ${words ? words.message : err instanceof Error ? err.message : String(err)}`);
    if (words?.hint) say(`hint: ${words.hint}`);
  }
  if (process.env.OCIMAKE_DEBUG === '1' && err instanceof Error && err.stack) say(err.stack);
}

/** What a shell sees of a program killed by SIGPIPE (128 + 13), as `cat big | head` ends. */
const CLOSED_PIPE_EXIT = 141;

/** True for the error of writing to a standard output whose reader has gone (`ocimake build -o - | head -c 100`). */
function isClosedStdout(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'EPIPE' && process.stdout.destroyed;
}

/**
 * The `ocimake` process: `main`, plus a clean stop on Ctrl-C, a quiet end when the reader of
 * standard output goes away, and one `error:` line for any failure that escaped its caller
 * (not installed when `main` is embedded, e.g. in tests). Each removes this run's temporary files.
 */
export async function runCli(argv: string[]): Promise<number> {
  // The command owns its process: large trees may tune V8 (util/heap.ts). A library caller's process is left as it is.
  allowHeapGovernance();
  allowReexec();
  watchOuter();
  if (argv[0] !== 'registry') stopCleanlyOnSignals();
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') return lastResort(err);
    // As other tools end when their reader goes (Go's and C's die of SIGPIPE): quietly.
    removeTrackedTemps();
    process.exit(CLOSED_PIPE_EXIT);
  });
  process.on('unhandledRejection', lastResort);
  process.on('uncaughtException', lastResort);
  return main(argv);
}

function lastResort(err: unknown): void {
  removeTrackedTemps();
  if (isClosedStdout(err)) process.exit(CLOSED_PIPE_EXIT);
  reportError(err);
  process.exit(1);
}

let signalsHandled = false;

/**
 * Ctrl-C (SIGINT) or SIGTERM during a command: remove every temporary file and directory
 * this run started (partial blobs in the cache, scratch trees, `*.tmp` beside outputs), say
 * so, and exit 130 or 143 as shells expect. Nothing was tagged: tags are written last.
 */
function stopCleanlyOnSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  let stopping = false;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    // Once: a Ctrl-C reaches both an outer process and the build it runs in a user namespace
    // (reexec.ts), which also gets it forwarded; the second must not cut the clean-up short.
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      // The build runs in the inner process, which cleans up itself: wait for it, and exit as it did.
      if (innerRunning()) { void forwardToInner(signal).then((status) => process.exit(status)); return; }
      // Executed RUNs end first: their trees go only once nothing writes into them.
      void endSandboxes().finally(() => {
        const n = removeTrackedTemps();
        process.stderr.write(`\ninterrupted (${signal}): removed ${n} temporary file(s) this run had started\n`);
        process.exit(code);
      });
    });
  }
}
