import { createHash } from 'node:crypto';
import { OcimakeError } from '../../errors.js';
import type { TransportOptions } from '../../remote/transport.js';
import type { Cache } from '../../store/cache.js';
import { RunError } from '../errors.js';
import type { Command, Io, ShellState } from '../shell/state.js';
import { readDb } from '../commands/ids.js';
import { ApkFetchFailed, ApkFetcher } from './fetch.js';
import { formatDep, loadIndex, parseDep, type ApkPackage, type Dep } from './index-file.js';
import { installPackage, removePackage } from './install.js';
import { parseInstalled, type InstalledPackage } from './installed-db.js';
import { openPackage, type OpenedPackage } from './package-file.js';
import { solve } from './resolve.js';
import { emulateScripts } from './scripts.js';
import { readText, writeText, rewriteScripts, writeTriggers } from './image-files.js';

/** What the build gives apk: where to cache, how to reach repositories, and its policy flags. */
export interface ApkOptions {
  /** Where indexes and packages are kept between builds. */
  cache: Cache;
  transport?: TransportOptions;
  /** --apk-allow-untrusted: lets `apk add --allow-untrusted` skip signature checks. */
  allowUntrusted?: boolean;
  /** --apk-mirror / OCIMAKE_APK_MIRROR: repositories are fetched from this origin instead. */
  mirror?: string;
  /** --strict-scripts: a package with install scripts ocimake does not emulate is an error. */
  strictScripts?: boolean;
  warn?: (message: string) => void;
  /** For RUN --network=none: every fetch fails; what apk has cached in the image is all it has. */
  offline?: boolean;
}

interface Flags {
  noCache: boolean; update: boolean; repos: string[]; allowUntrusted: boolean; quiet: boolean; noScripts: boolean;
  virtual?: string; upgrade: boolean; simulate: boolean; infoExists: boolean; printArch?: boolean;
}

const NO_VALUE = new Set(['--no-cache', '-U', '--update-cache', '--allow-untrusted', '-q', '--quiet', '-v', '--verbose', '--no-scripts', '--no-progress', '--progress', '-u', '--upgrade', '-l', '--latest', '--purge', '--force-broken-world', '--clean-protected', '-s', '--simulate', '--available', '-a', '-e', '--installed', '--no-interactive', '-f', '--force']);

const WITH_VALUE = ['--repository', '--virtual'];
const REFUSED = ['--root', '--arch', '--keys-dir', '--cache-dir', '--repositories-file', '--interactive', '--wait'];
const LONG = [...[...NO_VALUE].filter((o) => o.startsWith('--')), ...WITH_VALUE, ...REFUSED, '--print-arch'];

/** As apk's getopt_long: a unique prefix of a long option names it (`apk --update add` is --update-cache). */
function longName(name: string): string {
  if (!name.startsWith('--') || LONG.includes(name)) return name;
  const hits = LONG.filter((o) => o.startsWith(name));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new RunError(`option '${name}' is ambiguous; possibilities: ${hits.join(' ')}`);
  return name;
}

function parseArgs(args: string[]): { sub: string; operands: string[]; f: Flags } {
  const f: Flags = { noCache: false, update: false, repos: [], allowUntrusted: false, quiet: false, noScripts: false, upgrade: false, simulate: false, infoExists: false };
  let sub = '';
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [written, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const name = longName(written);
    if (name === '--print-arch') { f.printArch = true; continue; }
    const value = () => inline ?? args[++i] ?? (() => { throw new RunError(`option ${name} needs a value`); })();
    if (name === '-X' || name === '--repository') { f.repos.push(value()); continue; }
    if (name === '-t' || name === '--virtual') { f.virtual = value(); continue; }
    if (/^-X./.test(a)) { f.repos.push(a.slice(2)); continue; }
    if (['--root', '-p', '--arch', '--keys-dir', '--cache-dir', '--repositories-file', '-i', '--interactive', '--wait'].includes(name)) {
      throw new RunError(`${name} is not supported natively: ocimake installs into the stage's own root with its own keys and repositories`);
    }
    if (name.startsWith('-') && name.length > 1 && !NO_VALUE.has(name)) {
      // Clusters of short flags (-Uq).
      if (/^-[Uuqvsle]+$/.test(a)) { for (const c of a.slice(1)) applyFlag(`-${c}`, f); continue; }
      throw new RunError(`unrecognized option ${a}`);
    }
    if (name.startsWith('-') && name.length > 1) { applyFlag(name, f); continue; }
    if (sub === '') sub = a; else operands.push(a);
  }
  return { sub, operands, f };
}

function applyFlag(name: string, f: Flags): void {
  if (name === '--no-cache') f.noCache = true;
  else if (name === '-U' || name === '--update-cache') f.update = true;
  else if (name === '--allow-untrusted') f.allowUntrusted = true;
  else if (name === '-q' || name === '--quiet') f.quiet = true;
  else if (name === '--no-scripts') f.noScripts = true;
  else if (name === '-u' || name === '--upgrade' || name === '-l' || name === '--latest') f.upgrade = true;
  else if (name === '-s' || name === '--simulate') f.simulate = true;
  else if (name === '-e' || name === '--installed') f.infoExists = true;
}

/** The apk command, natively: add, del, update, upgrade and info, over the stage's own apk state. */
export function apkCommand(opts: ApkOptions): Command {
  const fetcher = new ApkFetcher(opts.cache, opts.transport, opts.offline === true);
  return async (args, io, sh) => {
    const { sub, operands, f } = parseArgs(args);
    if (f.printArch && sub === '') {
      // apk --print-arch: the stage's architecture, as apk reads it.
      const arch = ((await readText(sh, '/etc/apk/arch')) ?? '').trim();
      if (arch === '') throw new OcimakeError('APK_STATE', 'the stage has no /etc/apk/arch', { hint: 'apk runs on Alpine-based images; is the base an Alpine image?' });
      io.out(`${arch}\n`);
      return 0;
    }
    if (sub === '' ) throw new RunError('usage: apk add|del|update|upgrade|info [OPTIONS] [PACKAGES]');
    if (['fix', 'cache', 'audit', 'fetch', 'index', 'manifest', 'policy', 'search', 'dot', 'stats', 'verify', 'version'].includes(sub)) {
      throw new OcimakeError('RUN_UNSUPPORTED', `apk ${sub} is not supported natively`, { hint: 'RUN supports apk add, del, update, upgrade and info' });
    }
    if (f.allowUntrusted && !opts.allowUntrusted) {
      throw new OcimakeError('APK_UNTRUSTED', 'apk --allow-untrusted would install packages nobody signed', { hint: 'build with --apk-allow-untrusted to allow it, or put the repository key in /etc/apk/keys' });
    }
    const installedText = await readText(sh, '/lib/apk/db/installed');
    const installed = parseInstalled(installedText ?? '');
    if (sub === 'info') return info(operands, f, installed, io);
    if (sh.user.uid !== 0) { io.err('ERROR: Unable to lock database: Permission denied\nERROR: Failed to open apk database: Permission denied\n'); return 99; }
    const state = await loadRepositories(sh, f, opts, fetcher, io);
    if (sub === 'update') {
      const distinct = new Set(state.available.map((p) => `${p.name}-${p.version}`)).size;
      if (!f.quiet) io.out(state.unavailable ? `${state.unavailable} unavailable, 0 stale; ${distinct} distinct packages available\n` : `OK: ${distinct} distinct packages available\n`);
      if (!f.noCache) await cacheIndexes(sh, state.indexes);
      return state.unavailable;
    }
    if (sub !== 'add' && sub !== 'del' && sub !== 'upgrade') throw new RunError(`unknown command "${sub}"`);
    const world = ((await readText(sh, '/etc/apk/world')) ?? '').split(/\s+/).filter((w) => w !== '').map(parseDep);
    let newWorld: Dep[] = world;
    const extra: ApkPackage[] = [];
    let upgrade: Set<string> | 'all' | undefined;
    const wanted = operands.map((o) => {
      if (o.endsWith('.apk')) throw new OcimakeError('RUN_UNSUPPORTED', `apk add of a local file (${o}) is not supported natively`, { hint: 'serve the package from a repository (-X URL) with its index' });
      if (o.includes('@')) throw new OcimakeError('RUN_UNSUPPORTED', `tagged repositories (${o}) are not supported natively`, { hint: 'list the repository in /etc/apk/repositories without a tag, or pass it with -X' });
      return parseDep(o);
    });
    if (sub === 'add') {
      if (f.virtual) {
        const v = virtualPackage(f.virtual, wanted, sh);
        extra.push(v);
        newWorld = mergeWorld(world, [{ name: v.name, op: '', version: '', conflict: false }]);
      } else newWorld = mergeWorld(world, wanted);
      if (f.upgrade) upgrade = new Set(wanted.map((d) => d.name));
    } else if (sub === 'del') {
      const names = new Set(wanted.map((d) => d.name));
      for (const n of names) if (!world.some((d) => d.name === n)) io.err(`WARNING: ${n} is not in world, not removed\n`);
      newWorld = world.filter((d) => !names.has(d.name));
    } else {
      upgrade = operands.length === 0 ? 'all' : new Set(wanted.map((d) => d.name));
    }
    let target: ApkPackage[];
    try {
      target = solve({ world: newWorld, installed: installed.map((i) => i.pkg), available: [...extra, ...state.available], ...(upgrade ? { upgrade } : {}) });
    } catch (err) {
      // A package not found may be in a repository that could not be fetched: say which.
      if (!(err instanceof OcimakeError) || state.missing.length === 0) throw err;
      throw new OcimakeError(err.code, err.message, { cause: err, hint: `${state.missing.length === 1 ? 'a repository' : `${state.missing.length} repositories`} could not be fetched: ${state.missing.join(', ')}; check that ${state.missing.length === 1 ? 'it is' : 'they are'} reachable from here, or fetch from a mirror with --apk-mirror URL (or OCIMAKE_APK_MIRROR)` });
    }
    if (f.simulate) return 0;
    await apply(sh, io, f, opts, fetcher, state, installed, target, extra);
    await writeText(sh, '/etc/apk/world', newWorld.map(formatDep).sort().map((w) => `${w}\n`).join(''));
    if (!f.noCache) await cacheIndexes(sh, state.indexes);
    return 0;
  };
}

function info(operands: string[], f: Flags, installed: InstalledPackage[], io: Io): number {
  if (f.infoExists) return operands.every((o) => installed.some((i) => i.pkg.name === parseDep(o).name)) ? 0 : 1;
  if (operands.length > 0) throw new OcimakeError('RUN_UNSUPPORTED', 'apk info PACKAGE is not supported natively', { hint: 'apk info (the list) and apk info -e NAME are' });
  for (const i of installed) io.out(`${i.pkg.name}\n`);
  return 0;
}

function mergeWorld(world: Dep[], add: Dep[]): Dep[] {
  const names = new Set(add.map((d) => d.name));
  return [...world.filter((d) => !names.has(d.name)), ...add];
}

/** `apk add --virtual NAME pkgs`: a package that depends on them, dated by SOURCE_DATE_EPOCH (reproducible) rather than the clock. */
function virtualPackage(name: string, deps: Dep[], sh: ShellState): ApkPackage {
  const epoch = Number(sh.vars.get('SOURCE_DATE_EPOCH') ?? 0) || 0;
  const d = new Date(epoch * 1000).toISOString();
  const version = `${d.slice(0, 10).replaceAll('-', '')}.${d.slice(11, 19).replaceAll(':', '')}`;
  const checksum = `Q1${createHash('sha1').update(`${name}-${version}`).digest('base64')}`;
  return {
    checksum, name, version, arch: 'noarch', size: 0, installedSize: 0, description: 'virtual meta package', url: '', license: '', origin: '', maintainer: '', buildTime: '', commit: '',
    depends: deps, provides: [], installIf: [], replaces: [], raw: [['P', name], ['V', version], ['A', 'noarch'], ['S', '0'], ['I', '0'], ['T', 'virtual meta package'], ['U', ''], ['L', ''], ['D', deps.map(formatDep).join(' ')]],
  };
}

interface RepoState {
  available: ApkPackage[]; indexes: { url: string; repo: string; cacheUrl: string; bytes: Buffer }[]; keys: Map<string, string>; arch: string;
  /** Where each package is fetched from (a mirror's URL where one stands in). */
  repoOf: Map<ApkPackage, string>;
  /** The repository as /etc/apk/repositories or -X names it (what the lock pins). */
  listedOf: Map<ApkPackage, string>;
  /** apk-tools' count of what it could not fetch (two per repository). */
  unavailable: number;
  /** The repositories it could not fetch, with why. */
  missing: string[];
}

async function loadRepositories(sh: ShellState, f: Flags, opts: ApkOptions, fetcher: ApkFetcher, io: Io): Promise<RepoState> {
  const arch = ((await readText(sh, '/etc/apk/arch')) ?? '').trim();
  if (arch === '') throw new OcimakeError('APK_STATE', 'the stage has no /etc/apk/arch', { hint: 'apk runs on Alpine-based images; is the base an Alpine image?' });
  const keys = new Map<string, string>();
  const keyDir = await sh.fs.resolve('/etc/apk/keys', true);
  if (keyDir.node?.type === 'directory') {
    for (const name of await sh.fs.readdir(keyDir.path)) {
      const text = await readText(sh, `/${keyDir.path}/${name}`);
      if (text !== undefined) keys.set(name, text);
    }
  }
  const repos = [
    ...((await readText(sh, '/etc/apk/repositories')) ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('@')),
    ...f.repos,
  ];
  if (repos.length === 0) throw new OcimakeError('APK_STATE', 'no repositories: /etc/apk/repositories is empty and no -X was given');
  const available: ApkPackage[] = [];
  const indexes: RepoState['indexes'] = [];
  const repoOf = new Map<ApkPackage, string>();
  const listedOf = new Map<ApkPackage, string>();
  let unavailable = 0;
  const missing: string[] = [];
  for (const [i, repo] of repos.entries()) {
    const base = opts.mirror ? rewriteOrigin(repo, opts.mirror) : repo;
    const url = `${base.replace(/\/+$/, '')}/${arch}/APKINDEX.tar.gz`;
    if (!f.quiet) io.out(`fetch ${url}\n`);
    let bytes: Buffer;
    try {
      bytes = await fetcher.index(url);
    } catch (err) {
      // As apk-tools: a repository it cannot fetch is a warning, and the others are used.
      if (!(err instanceof ApkFetchFailed)) throw err;
      const why = err.why;
      io.err(`WARNING: updating and opening ${base}: ${why}\n`);
      opts.warn?.(`apk: ${base} is unavailable (${why}); the other repositories were used`);
      unavailable += 2; // apk-tools counts a repository it could not fetch twice (update's exit status)
      missing.push(`${base} (${why})`);
      continue;
    }
    const idx = await loadIndex(bytes, keys, url, f.allowUntrusted && opts.allowUntrusted === true);
    // apk names its cached copy after the index URL as /etc/apk/repositories writes it (not the mirror's).
    indexes.push({ url, repo, cacheUrl: `${repo.replace(/\/+$/, '')}/${arch}/APKINDEX.tar.gz`, bytes });
    // Each load parses afresh, so the packages are this RUN's to mark (a copy would read every lazy `raw`).
    for (const p of idx.packages) {
      p.repo = base;
      p.repoIndex = i;
      available.push(p);
      repoOf.set(p, base);
      listedOf.set(p, repo.replace(/\/+$/, ''));
    }
  }
  return { available, indexes, keys, arch, repoOf, listedOf, unavailable, missing };
}

function rewriteOrigin(repo: string, mirror: string): string {
  const r = new URL(repo);
  const m = new URL(mirror);
  return `${m.origin}${m.pathname.replace(/\/$/, '')}${r.pathname}`;
}

/** Copies of the indexes in /var/cache/apk, named as apk names them (the first 4 bytes of the SHA-1 of the index URL). */
async function cacheIndexes(sh: ShellState, indexes: RepoState['indexes']): Promise<void> {
  const dir = await sh.fs.resolve('/var/cache/apk', true);
  if (dir.node?.type !== 'directory') return;
  for (const i of indexes) {
    const id = createHash('sha1').update(i.cacheUrl).digest('hex').slice(0, 8);
    await writeText(sh, `/${dir.path}/APKINDEX.${id}.tar.gz`, i.bytes);
  }
}

async function apply(sh: ShellState, io: Io, f: Flags, opts: ApkOptions, fetcher: ApkFetcher, state: RepoState, installed: InstalledPackage[], target: ApkPackage[], extra: ApkPackage[]): Promise<void> {
  const byName = new Map(installed.map((i) => [i.pkg.name, i] as const));
  const targetNames = new Set(target.map((p) => p.name));
  const owners = new Map<string, string>();
  for (const i of installed) for (const file of i.files) owners.set(file, i.pkg.name);
  const ids = await idNames(sh);
  const blocks = new Map<string, InstalledPackage>(installed.map((i) => [i.pkg.name, i]));
  const changes = target.filter((p) => byName.get(p.name)?.pkg.version !== p.version);
  const added: { p: ApkPackage; opened: OpenedPackage }[] = [];
  // Each package is named (to the lock, which may refuse it) before any is fetched.
  for (const p of changes) if (!extra.includes(p)) sh.onApk?.({ repository: state.listedOf.get(p) ?? p.repo ?? '', name: p.name, version: p.version, checksum: p.checksum });
  let n = 0;
  for (const p of changes) {
    n++;
    const old = byName.get(p.name);
    if (!f.quiet) io.out(`(${n}/${changes.length}) ${old ? 'Upgrading' : 'Installing'} ${p.name} (${old ? `${old.pkg.version} -> ` : ''}${p.version})\n`);
    let inst: InstalledPackage;
    if (extra.includes(p)) {
      inst = { pkg: p, block: `C:${p.checksum}\n${p.raw.map(([k, v]) => `${k}:${v}\n`).join('')}`, files: [], dirs: [] };
    } else {
      const repo = state.repoOf.get(p) ?? p.repo ?? '';
      const url = `${repo.replace(/\/+$/, '')}/${state.arch}/${p.name}-${p.version}.apk`;
      const untrusted = f.allowUntrusted && opts.allowUntrusted === true;
      const opened = await fetcher.package(url, p.checksum, (bytes) => openPackage(bytes, state.keys, `${p.name}-${p.version}.apk`, { checksum: p.checksum, size: p.size || undefined }, untrusted));
      if (old) {
        const keep = new Set(opened.files.map((e) => e.name.replace(/^\.?\/+/, '').replace(/\/$/, '')));
        await removePackage(sh.fs, old, keep, otherDirs(blocks, p.name));
      }
      inst = await installPackage(sh.fs, p, opened, ids, owners);
      for (const file of inst.files) owners.set(file, p.name);
      if (!f.noScripts) {
        const notRun = await emulateScripts(sh, p, opened, Boolean(old));
        if (notRun.length > 0) {
          const msg = `scripts of ${p.name}-${p.version} were not run (${notRun.join(', ')}): ocimake executes nothing; its files are installed`;
          if (opts.strictScripts) throw new OcimakeError('APK_SCRIPTS', msg, { hint: 'drop --strict-scripts to install it with a warning, or check that the image works without the scripts' });
          opts.warn?.(msg);
          io.err(`WARNING: ${msg}\n`);
        }
      }
      added.push({ p: inst.pkg, opened });
      await writeTriggers(sh, p, opened);
    }
    blocks.set(p.name, inst);
  }
  for (const i of installed) {
    if (targetNames.has(i.pkg.name)) continue;
    if (!f.quiet) io.out(`Purging ${i.pkg.name} (${i.pkg.version})\n`);
    await removePackage(sh.fs, i, new Set(), otherDirs(blocks, i.pkg.name));
    blocks.delete(i.pkg.name);
  }
  // apk-tools writes the database sorted by package name (checked against apk 2.14 in the interop suite).
  const text = [...blocks.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((name) => `${blocks.get(name)!.block}\n`).join('');
  await writeText(sh, '/lib/apk/db/installed', text);
  await rewriteScripts(sh, [...blocks.values()].map((b) => b.pkg), added);
  if (!f.quiet) io.out(`OK: ${blocks.size} packages installed\n`);
}

function otherDirs(blocks: Map<string, InstalledPackage>, except: string): Set<string> {
  const out = new Set<string>();
  for (const [name, b] of blocks) if (name !== except) for (const d of b.dirs) out.add(d);
  return out;
}

async function idNames(sh: ShellState) {
  const passwd = (await readDb(sh, '/etc/passwd')) ?? [];
  const group = (await readDb(sh, '/etc/group')) ?? [];
  return {
    user: (n: string) => { const r = passwd.find((x) => x[0] === n); return r ? Number(r[2]) : undefined; },
    group: (n: string) => { const r = group.find((x) => x[0] === n); return r ? Number(r[2]) : undefined; },
  };
}
