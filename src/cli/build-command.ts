import { parseSecret, parseSsh } from '../builder/run-mounts.js';
import { parseIsolation } from '../run/exec/isolation.js';
import { buildInUserns } from './reexec.js';
import { isNetworkMode, type NetworkMode } from '../run/flags.js';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { readDockerfile } from '../dockerfile/read.js';
import { addSigningFlags, attestOptions, type SigningFlags } from './sign-flags.js';
import { dirname, relative, resolve } from 'node:path';
import { lockPath } from '../builder/lock.js';
import type { Command } from 'commander';
import type { Output } from '../builder/export.js';
import type { BytesEvent, TransferEvent } from '../remote/transport.js';
import { hostPlatform, parsePlatform } from '../oci/platform.js';
import { isIP } from 'node:net';
import { parseSize } from '../store/cache-prune.js';
import type { RunHost } from '../run/exec/execute.js';
import type { Platform } from '../oci/schemas.js';
import { parseKeyValues, parseOutput } from './output-spec.js';
import { Progress, PROGRESS_MODES, type ProgressMode } from './progress.js';
import { OcimakeError } from '../errors.js';
import { setExitCode } from './exit-code.js';
import { parseBuildContext } from '../builder/named-contexts.js';
import { parseAnnotation } from '../builder/annotations.js';
import { addNetworkFlags, transportFrom, type NetworkFlags } from './network-flags.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** Registers `ocimake build`, whose flags mean what they mean in `docker buildx build`. */
export function registerBuild(program: Command): void {
  buildFlags(program.command('build').description('build an image from a Dockerfile, without a daemon'))
    .action(async (context: string, o: BuildFlags) => runBuild(context, o));
}

/**
 * Registers `ocimake lock`: the build resolves everything and writes ocimake.lock, building
 * nothing it has not to (steps come from the cache). With a lock already there, it checks it
 * (as --locked does) unless --update asks for a new one.
 */
export function registerLock(program: Command): void {
  buildFlags(program.command('lock').description('write ocimake.lock (or check it when it exists): what the build resolves, pinned'))
    .option('--update', 'write the lock anew from what resolves now')
    .action(async (context: string, o: BuildFlags & { update?: boolean }) => {
      const path = lockPathOf(context, o.file);
      const mode = o.update || !existsSync(path) ? 'write' : 'locked';
      await runBuild(context, { ...o, lock: mode === 'write', locked: mode === 'locked' }, { quietNoOutput: true });
      if (o.progress !== 'quiet' && !o.quiet) process.stderr.write(`${mode === 'write' ? 'wrote' : 'checked'} ${relative(process.cwd(), path) || path}\n`);
    });
}

/** The flags `build` and `lock` share. */
function buildFlags(cmd: Command): Command {
  return addNetworkFlags(addSigningFlags(cmd
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <path>', 'Dockerfile path (default: CONTEXT/Dockerfile); - reads it from stdin')
    .option('-t, --tag <ref>', 'image name and tag, e.g. ghcr.io/acme/app:1.0 (repeatable)', collect, [])
    .option('--push', 'push the image to the registry of each tag')
    .option('-o, --output <spec>', 'type=oci,dest=DIR|FILE.tar | type=docker,dest=FILE.tar | type=local,dest=DIR (or DIR) | type=tar,dest=FILE | type=registry; dest=- (or -o -) streams a tar to stdout (repeatable)', collect, [])
    .option('--build-arg <name=value>', 'set a build-time ARG (repeatable)', collect, [])
    .option('--label <key=value>', 'add a label to the image (repeatable)', collect, [])
    .option('--annotation <[type:]key=value>', 'add an annotation: to the manifest (default), or index:, manifest-descriptor:, with [os/arch] to limit it to a platform (repeatable)', collect, [])
    .option('--target <stage>', 'build this stage and the stages it needs')
    .option('--build-context <name=value>', 'FROM NAME / COPY --from=NAME get a directory, docker-image://REF or oci-layout://DIR[:TAG] instead (repeatable)', collect, [])
    .option('--platform <os/arch[/variant],...>', 'target platform(s); several make a multi-platform index (default: the host\'s linux platform)')
    .option('--iidfile <file>', 'write the image ID (config digest) to a file')
    .option('--metadata-file <file>', 'write the build result (digest, descriptor, names) as JSON')
    .option('--progress <mode>', 'auto | plain | tty | quiet | rawjson (BuildKit-style JSON lines on stderr)', 'auto')
    .option('-q, --quiet', 'print only the image digest (same as --progress=quiet)')
    .option('--cache-dir <dir>', 'blob cache directory (default: $XDG_CACHE_HOME/ocimake)')
    .option('--no-cache', 'build every layer again, without looking in the layer cache')
    .option('--no-cache-filter <stages>', 'build these stages again (comma-separated names or indexes; repeatable), as --no-cache does for all', collect, [])
    .option('--cache-from <spec>', 'reuse layers recorded by --cache-to: type=registry,ref=REF | type=local,src=DIR | REF (an image built with --cache-to type=inline) (repeatable)', collect, [])
    .option('--cache-to <spec>', 'export the layer cache: type=registry,ref=REF[,mode=max] | type=local,dest=DIR[,mode=max] | type=inline (repeatable)', collect, [])
    .option('--lock', 'write ocimake.lock next to the Dockerfile: every image opened (by digest, per platform), download (by digest) and apk package (name, version, checksum, repository)')
    .option('--locked', 'build by ocimake.lock: fail, naming it, where an image, download or apk package resolves differently from what the lock pins')
    .option('--add-host <host:ip>', 'add an /etc/hosts entry for RUN (host:ip or host=ip; repeatable); native RUN\'s wget, curl and apk resolve it too', collect, [])
    .option('--shm-size <size>', 'the size of /dev/shm for executed RUNs, e.g. 256m (default: half the memory, as tmpfs)')
    .option('--ulimit <name=soft[:hard]>', 'a resource limit for executed RUNs, as docker: nofile=1024:2048, nproc=512 (repeatable)', collect, [])
    .option('--allow <entitlement>', 'buildx entitlements: network.host is allowed without asking; security.insecure is refused (repeatable)', collect, [])
    .option('--load', 'buildx: load into the docker daemon (ocimake has none: refused with what to do instead)')
    .option('--attest <spec>', 'buildx: type=provenance[,mode=min|max] or type=sbom, the same as --provenance and --sbom (repeatable)', collect, [])
    .option('--pull', 'always look up base images in their registry (ocimake always does; cached blobs are reused by digest)')
    .option('--isolation <mode>', 'how a RUN that needs a real program runs: auto (default: native when ocimake can interpret it, else the first sandbox that works here) | native (never execute) | rootless (unprivileged user namespace) | chroot (as root); or OCIMAKE_ISOLATION')
    .option('--network <mode>', 'the network of every RUN without --network of its own: default | none (loopback alone; downloads and apk fail) | host, as buildx')
    .option('--apk-mirror <url>', 'fetch apk repositories from this origin instead of the hosts /etc/apk/repositories names (or OCIMAKE_APK_MIRROR)')
    .option('--apk-allow-untrusted', 'let RUN apk add --allow-untrusted install unsigned packages')
    .option('--strict-scripts', 'fail when an apk package has install scripts ocimake does not emulate (default: warn)')
    .option('--call <method>', 'build (default), or check: run the Dockerfile checks (as docker build --check) and build nothing')
    .option('--check', 'same as --call=check')
    .option('--sign', 'sign attestations of the pushed image and push them as OCI 1.1 referrers: keyless (Fulcio + Rekor, OIDC token from SIGSTORE_ID_TOKEN or the CI), or with --key; provenance mode=min unless --provenance says otherwise')
    .option('--provenance [spec]', 'SLSA provenance v1 attestation: mode=min (default) | mode=max | false (needs --sign)')
    .option('--sbom [bool]', 'CycloneDX SBOM attestation of the apk packages (needs --sign)')
    .option('--ssh <spec>', 'an SSH agent for RUN --mount=type=ssh: default or ID (the agent at $SSH_AUTH_SOCK), or ID=SOCKET (repeatable)', collect, [])
    .option('--secret <spec>', 'a secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VARIABLE (repeatable; never in a layer, the history or the provenance)', collect, [])));
}

function lockPathOf(context: string, file: string | undefined): string {
  return lockPath(file && file !== '-' ? resolve(file) : undefined, resolve(context));
}

async function runBuild(context: string, o: BuildFlags, how: { quietNoOutput?: boolean } = {}): Promise<void> {
  const call = o.check ? 'check' : (o.call ?? 'build');
  if (call !== 'build' && call !== 'check') throw new OcimakeError('FLAG_UNSUPPORTED', `--call=${call} is not supported`, { hint: 'ocimake has --call=build and --call=check' });
  if (call === 'check') { setExitCode(await runChecks(context, o.file)); return; }
  const mode = (o.quiet ? 'quiet' : o.progress) as ProgressMode;
  if (!PROGRESS_MODES.includes(mode)) {
    throw new OcimakeError('FLAG_INVALID', `--progress=${o.progress} is not a progress mode`, { hint: `use ${PROGRESS_MODES.join(', ')}` });
  }
  for (const a of o.annotation) parseAnnotation(a);
  for (const t of o.tag) {
    if (/@sha256:/.test(t)) throw new OcimakeError('TAG_INVALID', `-t ${t}: a tag cannot name a digest (the digest is what the build produces)`, { hint: 'use -t name:tag; --metadata-file and --iidfile tell you the digest' });
  }
  // Files written after the build (and after a push) are checked first, so a typo does not cost a build.
  for (const [flag, file] of [['--iidfile', o.iidfile], ['--metadata-file', o.metadataFile]] as const) if (file) checkWritableFile(flag, file);
  if (o.load) {
    throw new OcimakeError('FLAG_UNSUPPORTED', '--load: ocimake runs no daemon to load the image into', { hint: 'write a docker archive and load it where a docker daemon runs: -o type=docker,dest=image.tar, then docker load -i image.tar (or -o type=docker,dest=- | docker load); or --push to a registry' });
  }
  for (const a of o.allow) {
    if (a === 'security.insecure') throw new OcimakeError('FLAG_UNSUPPORTED', '--allow security.insecure: ocimake has no privileged RUN (RUN --security=insecure)', { hint: 'a RUN needs no entitlement to run here; drop --allow security.insecure and RUN --security=insecure' });
    if (a !== 'network.host') throw new OcimakeError('FLAG_INVALID', `--allow ${a} is not an entitlement`, { hint: 'buildx knows network.host (allowed here without asking) and security.insecure' });
  }
  for (const a of o.attest) Object.assign(o, attestFlag(a, o));
  const runHost = runHostOf(o);
  const platforms = platformOptions(o.platform);
  const isolation = parseIsolation(o.isolation);
  // A build that executes RUN runs inside the caller's subordinate ids, where it has them.
  const userns = await buildInUserns(context, o.file, isolation);
  if ('status' in userns) { setExitCode(userns.status); return; }
  const progress = new Progress(mode, process.stderr, { multiPlatform: (platforms.platforms?.length ?? 0) > 1 });
  const transport = { ...transportFrom(o, (m) => progress.notice(m)), onTransfer: (e: TransferEvent) => progress.transfer(e), onBytes: (e: BytesEvent) => progress.bytes(e) };
  const { buildAndExport } = await import('../builder/export.js');
  const outputs: Output[] = o.output.map(parseOutput);
  if (o.lock && o.locked) throw new OcimakeError('FLAG_INVALID', '--lock and --locked together: one writes the lock, the other builds by it', { hint: 'use --locked in CI, and --lock (or "ocimake lock --update") to refresh the lock' });
  const lockFile = lockPathOf(context, o.file);
  const lock = o.lock || o.locked ? { mode: o.locked ? 'locked' as const : 'write' as const, path: lockFile, shown: relative(process.cwd(), lockFile) || lockFile } : undefined;
  if (outputs.length === 0 && !o.push && !how.quietNoOutput) {
    // As buildx: say that the result goes nowhere.
    const text = 'no output specified: the image is built and checked, then discarded. Use --push, -o type=oci,dest=DIR, -o type=docker,dest=FILE.tar or -o DIR to keep it';
    if (mode === 'rawjson') progress.notice(text);
    else process.stderr.write(`warning: ${text}\n`);
  }
  let result: Awaited<ReturnType<typeof buildAndExport>>;
  try {
    result = await buildAndExport({
      context,
      ...(o.file === '-' ? { dockerfileText: userns.stdinText ?? await readDockerfile('-') } : o.file ? { dockerfile: resolve(o.file) } : {}),
      tags: o.tag,
      push: o.push === true,
      outputs,
      buildArgs: parseKeyValues('--build-arg', o.buildArg),
      buildContexts: Object.fromEntries(o.buildContext.map((a) => { const c = parseBuildContext(a); return [c[0], a.slice(a.indexOf('=') + 1)]; })),
      labels: parseKeyValues('--label', o.label, {}),
      annotations: o.annotation,
      ...(o.target ? { target: o.target } : {}),
      ...platforms,
      ...(o.iidfile ? { iidFile: o.iidfile } : {}),
      ...(o.metadataFile ? { metadataFile: o.metadataFile } : {}),
      ...transport,
      ...(o.cache === false ? { noCache: true } : {}),
      isolation,
      ...(o.network !== undefined ? { network: parseNetwork(o.network) } : {}),
      ...(o.secret.length ? { secrets: Object.fromEntries(o.secret.map(parseSecret)) } : {}),
      ...(o.ssh.length ? { ssh: Object.fromEntries(o.ssh.map((v) => parseSsh(v))) } : {}),
      ...(o.cacheFilter.length ? { noCacheFilter: o.cacheFilter.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean) } : {}),
      cacheFrom: o.cacheFrom,
      cacheTo: o.cacheTo,
      ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      onProgress: (e) => progress.build(e),
      onRunOutput: (line) => progress.runOutput(line),
      apk: { ...(o.apkMirror ? { mirror: o.apkMirror } : {}), ...(o.apkAllowUntrusted ? { allowUntrusted: true } : {}), ...(o.strictScripts ? { strictScripts: true } : {}) },
      onPush: (e) => progress.push(e),
      ...attestOptions(o),
      ...(lock ? { lock } : {}),
      ...(runHost ? { runHost } : {}),
    });
  } catch (err) {
    // For CI tools: the error with its code and where it is, as a JSON line and in the metadata file.
    const failure = err instanceof OcimakeError ? err.toJSON() : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
    progress.failure(failure);
    if (o.metadataFile) await writeFile(o.metadataFile, `${JSON.stringify({ error: failure }, null, 2)}\n`).catch(() => {});
    throw err;
  }
  const stdoutTaken = outputs.some((x) => 'dest' in x && x.dest === '-');
  if (mode === 'quiet' && !stdoutTaken) process.stdout.write(`${result.digest}\n`);
  else progress.done(`built ${result.digest}${result.tags.length ? ` (${o.tag.join(', ')})` : ''}`);
}

/** --attest type=provenance[,mode=...] | type=sbom[,...], as buildx: the same as --provenance / --sbom. */
function attestFlag(spec: string, o: BuildFlags): Partial<BuildFlags> {
  const fields = new Map(spec.split(',').map((kv) => { const i = kv.indexOf('='); return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)] as [string, string]; }));
  const type = fields.get('type');
  fields.delete('type');
  const rest = [...fields].map(([k, v]) => `${k}=${v}`).join(',');
  if (type === 'provenance') return { provenance: rest || o.provenance || true };
  if (type === 'sbom') return { sbom: fields.get('disabled') === 'true' ? 'false' : true };
  throw new OcimakeError('FLAG_INVALID', `--attest ${spec}: type must be provenance or sbom`, { hint: 'e.g. --attest type=provenance,mode=max --attest type=sbom' });
}

/** --add-host, --shm-size and --ulimit, checked and put in the form the sandbox takes. */
function runHostOf(o: BuildFlags): RunHost | undefined {
  const addHosts = new Map<string, string>();
  for (const a of o.addHost) {
    const m = /^([^:=\s]+)[:=](.+)$/.exec(a);
    if (!m || isIP(m[2]!) === 0) throw new OcimakeError('FLAG_INVALID', `--add-host ${a}: not host:ip`, { hint: 'e.g. --add-host registry.local:10.0.0.5 (or registry.local=10.0.0.5)' });
    addHosts.set(m[1]!.toLowerCase(), m[2]!);
  }
  const shmBytes = o.shmSize !== undefined ? parseSize(o.shmSize) : undefined;
  if (shmBytes !== undefined && shmBytes <= 0) throw new OcimakeError('FLAG_INVALID', `--shm-size ${o.shmSize}: must be more than 0`, { hint: 'e.g. --shm-size 256m' });
  const limits = o.ulimit.map((u) => {
    const m = /^([a-z]+)=(-?\d+|unlimited)(?::(-?\d+|unlimited))?$/.exec(u);
    if (!m || !ULIMITS.has(m[1]!)) throw new OcimakeError('FLAG_INVALID', `--ulimit ${u}: not name=soft[:hard]`, { hint: `names: ${[...ULIMITS].join(', ')}; e.g. --ulimit nofile=1024:2048` });
    const v = (x: string) => (x === '-1' ? 'unlimited' : x);
    return `--${m[1]}=${v(m[2]!)}:${v(m[3] ?? m[2]!)}`;
  });
  if (addHosts.size === 0 && shmBytes === undefined && limits.length === 0) return undefined;
  return { ...(addHosts.size ? { addHosts } : {}), ...(shmBytes !== undefined ? { shmBytes } : {}), ...(limits.length ? { limits } : {}) };
}

// docker's --ulimit names, which are prlimit's options too.
const ULIMITS = new Set(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);

interface BuildFlags extends NetworkFlags, SigningFlags {
  addHost: string[];
  shmSize?: string;
  ulimit: string[];
  allow: string[];
  load?: boolean;
  attest: string[];
  lock?: boolean;
  locked?: boolean;
  sign?: boolean;
  provenance?: string | true;
  sbom?: string | true;
  file?: string;
  tag: string[];
  push?: boolean;
  output: string[];
  buildArg: string[];
  buildContext: string[];
  /** --no-cache-filter (commander names it for what follows "--no-"). */
  cacheFilter: string[];
  isolation?: string;
  network?: string;
  label: string[];
  annotation: string[];
  target?: string;
  platform?: string;
  iidfile?: string;
  metadataFile?: string;
  progress: string;
  quiet?: boolean;
  cacheDir?: string;
  pull?: boolean;
  cache?: boolean;
  cacheFrom: string[];
  cacheTo: string[];
  apkMirror?: string;
  apkAllowUntrusted?: boolean;
  strictScripts?: boolean;
  call?: string;
  check?: boolean;
  secret: string[];
  ssh: string[];
}

/** --network as buildx takes it: the network of every RUN that names none of its own. */
function parseNetwork(v: string): NetworkMode {
  if (isNetworkMode(v)) return v;
  throw new OcimakeError('FLAG_INVALID', `--network ${v} is not known`, { hint: 'use --network default (the host\'s network, as RUN has by default), none (no network: executed RUNs get loopback alone, native downloads and apk fail) or host' });
}

function checkWritableFile(flag: string, file: string): void {
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw new OcimakeError('FLAG_INVALID', `${flag} ${file}: that is a directory`, { hint: `give a file path, e.g. ${file.replace(/\/$/, '')}/${flag === '--iidfile' ? 'iid' : 'metadata.json'}` });
  const dir = dirname(resolve(file));
  try {
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OcimakeError('FLAG_INVALID', `${flag} ${file}: ${code === 'ENOENT' ? `the directory ${dir} does not exist` : code === 'ENOTDIR' ? `${dir} is not a directory` : `${dir} is not writable`}`, { hint: 'create the directory first, or write the file somewhere else' });
  }
}

/** --call=check: the Dockerfile's check warnings on stdout; 1 when there are any, as docker build --check. */
async function runChecks(context: string, file: string | undefined): Promise<number> {
  const { checkDockerfile, formatChecks } = await import('../dockerfile/checks.js');
  const { planDockerfile } = await import('../dockerfile/stages.js');
  const path = file && file !== '-' ? resolve(file) : resolve(context, 'Dockerfile');
  const label = file === '-' ? 'Dockerfile (stdin)' : file ?? 'Dockerfile';
  const text = await readDockerfile(file === '-' ? '-' : path, { allowPipe: file !== undefined });
  planDockerfile(text, label); // errors (not warnings) fail as a build would
  const warnings = checkDockerfile(text, label);
  process.stdout.write(formatChecks(warnings, text, label));
  return warnings.length > 0 ? 1 : 0;
}

function platformOptions(spec: string | undefined): { platform?: Platform; platforms?: Platform[] } {
  if (!spec) return {};
  // buildx's `local`: the host's platform.
  const list = spec.split(',').map((p) => p.trim()).filter(Boolean).map((p) => (p === 'local' ? hostPlatform() : parsePlatform(p)));
  return list.length > 1 ? { platforms: list } : { platform: list[0]! };
}
