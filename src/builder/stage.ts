import { redactUrlCredentials } from '../util/redact.js';
import { OcimakeError, withContext, withLocation } from '../errors.js';
import type { Image, Layer } from '../image/image.js';
import { appendLayer, editConfig } from '../image/mutate.js';
import type { BlobStore } from '../store/blob-store.js';
import { lookupLayer, writeLayerCached, type CachedLayer, type LayerCacheOptions } from '../layer/layer-cache.js';
import type { UrlFetcher } from '../remote/url-fetch.js';
import { copyStepKey, layerIds, readStep, runStepKey, writeStep } from './step-cache.js';
import type { ApkInstall } from './lock.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import type { RunHost } from '../run/exec/execute.js';
import { formatPlatform } from '../oci/platform.js';
import { recordingDownloads, runNetwork } from './run-network.js';
import { join } from 'node:path';
import type { LayerCompression } from '../layer/tar-writer.js';
import type { Instruction } from '../dockerfile/instructions.js';
import { lineError } from '../dockerfile/instructions.js';
import { expandWord } from '../dockerfile/shell-lex.js';
import type { Stage } from '../dockerfile/stages.js';
import type { Reference } from '../oci/reference.js';
import { applyConfigInstruction, draftConfig } from './config-instructions.js';
import type { History } from '../oci/schemas.js';
import type { BuildContext } from './context.js';
import { parseChown, planCopy } from './copy.js';
import { contextSource, imageSource } from './copy-sources.js';
import { chownNeedsNames, loadIdLookup } from './passwd.js';
import { MergedFs } from '../image/merged-fs.js';
import type { runNative } from '../run/run.js';
import { mountKeys, mountSources, type RunMountEnv, type SecretSpec } from './run-mounts.js';
import type { Backend } from '../run/exec/isolation.js';
import type { NetworkMode } from '../run/flags.js';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Command } from '../run/shell/state.js';
import { placeEntries } from './place.js';
import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';

/** The state of a stage between instructions. Values only; each step returns a new one. */
export interface StageState {
  image: Image;
  /** The stage's filesystem: the one model every step reads and writes through. */
  fs: MergedFs;
  /** ARGs declared in this stage, with their values. */
  args: Map<string, string>;
  cmdSet: boolean;
  shell: string[];
  /** The registry reference of the base image, for cross-repository mounts on push. */
  baseRef?: Reference;
  /** The base as resolved, for progress: `docker.io/library/alpine:3.20@sha256:…`. */
  baseName?: string;
  /** Set by a step whose layer came from the layer cache (progress says CACHED). */
  lastLayerCached?: boolean;
}

/** An image to copy from: a stage of this build or any image source, with its filesystem. */
export interface FromSource {
  fs: MergedFs;
  what: string;
  /** Its layers as the step cache names them (step-cache.ts's layerIds), bottom first: they fix what a COPY --from reads. */
  layers: readonly string[];
}

export interface StageEnv {
  file: string;
  escape: string;
  context: BuildContext;
  store: BlobStore;
  /** --build-arg values. */
  buildArgs: ReadonlyMap<string, string>;
  /** Global ARG values (declared before the first FROM), for `ARG NAME` without a default. */
  globalArgs: ReadonlyMap<string, string>;
  /** Names of build args some ARG consumed (for the unused-arg warning). */
  consumed: Set<string>;
  created: string;
  mtime: number;
  scratch: string;
  onStep?: (stage: Stage, inst: Instruction, index: number) => void;
  /** A step finished; `layerBytes` is the size of the layer it wrote, if it wrote one. */
  onStepDone?: (stage: Stage, index: number, layerBytes?: number, cached?: boolean) => void;
  /** How new layers are compressed (gzip level 6 when undefined). */
  compression?: LayerCompression;
  /** The layer cache; none when undefined. */
  layerCache?: LayerCacheOptions;
  /** Every layer a step makes, with its cache key (for --cache-to). */
  onLayerKey?: (key: string, layer: Layer, uncompressedSize: number) => void;
  /** Output of RUN's commands, line by line. */
  onOutput?: (line: string) => void;
  /** Native commands the build adds to RUN (apk, with the build's network and options). */
  runCommands?: ReadonlyMap<string, Command>;
  /** Fetches ADD's URL sources (once per build each). */
  fetchUrl?: UrlFetcher;
  /** The build's --network: what a RUN without --network of its own gets (none: no network at all). */
  network?: NetworkMode;
  /** apk for a RUN without a network: every fetch fails, as the real apk's would. */
  offlineApk?: Command;
  /** The build's settings that change what a RUN makes (platform, isolation, apk options), for RUN's step key. */
  runSettings?: string;
  /** The RUNs to execute in a sandbox, and the sandbox (run-plan.ts). */
  executed?: ReadonlySet<Instruction>;
  execBackend?: Backend;
  /** The sandbox for a native RUN found only as it runs to need a program (probed on first use). */
  execFallback?: () => Backend | undefined;
  /** --secret values by id, for RUN --mount=type=secret (never in a layer, the history or a key). */
  secrets?: ReadonlyMap<string, SecretSpec>;
  /** --ssh agent sockets by id, for RUN --mount=type=ssh. */
  ssh?: ReadonlyMap<string, string>;
  /** Files a RUN answered from the step cache had downloaded (for provenance). */
  onMaterials?: (materials: readonly { uri: string; digest: string }[]) => void;
  /** buildx's --add-host, --shm-size and --ulimit, for executed RUNs. */
  runHost?: RunHost;
  /** Steps of the same key, one at a time (build-wide, across stages and platforms). */
  stepLocks?: KeyedLock;
  /** Each apk package a native RUN installs, or a cached one installed (the lock; --locked may refuse it). */
  onApk?: (p: ApkInstall) => void;
  /** Opens what COPY --from names: an earlier stage (name or index) or an image. */
  resolveFrom: (name: string, stage: Stage) => Promise<FromSource>;
}

/** The variables an instruction sees: the stage's ARGs, overridden by ENV. */
export function varsOf(state: StageState): Map<string, string> {
  const vars = new Map(state.args);
  for (const e of state.image.config.config?.Env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) vars.set(e.slice(0, i), e.slice(i + 1));
  }
  return vars;
}

const HISTORY_COMMENT = 'ocimake.dockerfile.v0';

/** Runs the instructions of one stage from `initial`, returning the final state. */
export async function runStage(stage: Stage, initial: StageState, env: StageEnv): Promise<StageState> {
  const kept: KeptTree = {};
  try {
    return await runSteps(stage, initial, env, kept);
  } finally {
    if (kept.tree) await rm(kept.tree.dir, { recursive: true, force: true });
  }
}

/** The tree the stage's last executed RUN left on disk, and the layers it holds (see executeIt). */
interface KeptTree { tree?: { dir: string; layers: string; backend: Backend } }

const layersOf = (image: Image): string => JSON.stringify(layerIds(image));

async function runSteps(stage: Stage, initial: StageState, env: StageEnv, kept: KeptTree): Promise<StageState> {
  let state = initial;
  const list = stage.instructions;
  for (let i = 0; i < list.length;) {
    if (CONFIG_ONLY.has(list[i]!.kind)) {
      // A run of metadata instructions edits one draft: linear in the run's length.
      let j = i;
      while (j < list.length && CONFIG_ONLY.has(list[j]!.kind)) j++;
      state = configRun(list.slice(i, j), i, state, env, stage);
      i = j;
      continue;
    }
    const inst = list[i]!;
    env.onStep?.(stage, inst, i);
    const layersBefore = state.image.layers.length;
    try {
      state = await step(inst, state, env, stage, kept);
    } catch (err) {
      throw atLine(env, inst, err);
    }
    const layers = state.image.layers;
    const wrote = layers.length > layersBefore;
    env.onStepDone?.(stage, i, wrote ? layers[layers.length - 1]!.descriptor.size : undefined, wrote && state.lastLayerCached === true);
    if (state.lastLayerCached !== undefined) state = { ...state, lastLayerCached: undefined };
    i++;
  }
  return state;
}

/** Instructions that only edit the config or the stage's ARGs (WORKDIR may write a layer). */
const CONFIG_ONLY = new Set(['arg', 'env', 'label', 'user', 'expose', 'cmd', 'entrypoint', 'volume', 'stopsignal', 'healthcheck', 'shell', 'maintainer', 'onbuild']);

function atLine(env: StageEnv, inst: Instruction, err: unknown): OcimakeError {
  const at = { file: env.file, line: inst.line };
  if (err instanceof OcimakeError && err.message.startsWith(`${env.file}:`)) return err.location?.line !== undefined ? err : withLocation(err, at);
  // A message that already names the instruction ("RUN would execute ...") gets the place only.
  if (err instanceof OcimakeError && err.message.startsWith(`${inst.kind.toUpperCase()} `)) return withLocation(withContext(`${env.file}:${inst.line}`, err), at);
  return withLocation(withContext(`${env.file}:${inst.line}: ${inst.kind.toUpperCase()}`, err), at);
}

function configRun(run: readonly Instruction[], first: number, state: StageState, env: StageEnv, stage: Stage): StageState {
  const draft = draftConfig(state.image.config.config ?? {});
  const vars = varsOf(state);
  let args: Map<string, string> | undefined;
  let { shell, cmdSet } = state;
  let author: string | undefined;
  const history: History[] = [];
  for (const [k, inst] of run.entries()) {
    env.onStep?.(stage, inst, first + k);
    try {
      if (inst.kind === 'arg') {
        // The args map is copied once per run, so 20,000 ARGs in a row stay linear.
        args ??= new Map(state.args);
        for (const a of inst.args) {
          env.consumed.add(a.name);
          const value = env.buildArgs.get(a.name) ?? (a.value !== undefined ? expandWord(a.value, vars, env.escape) : env.globalArgs.get(a.name));
          if (value !== undefined) args.set(a.name, value);
          else args.delete(a.name);
          // ENV of the same name wins over an ARG (the Dockerfile reference).
          if (!draft.envIndex.has(a.name)) { if (value !== undefined) vars.set(a.name, value); else vars.delete(a.name); }
        }
        env.onStepDone?.(stage, first + k);
        continue;
      }
      const edit = applyConfigInstruction(inst, draft, vars, { shell, cmdSet, escape: env.escape });
      shell = edit.shell ?? shell;
      cmdSet = edit.cmdSet ?? cmdSet;
      author = edit.author ?? author;
      history.push({ created: env.created, created_by: redactUrlCredentials(edit.createdBy), comment: HISTORY_COMMENT, empty_layer: true });
    } catch (err) {
      throw atLine(env, inst, err);
    }
    env.onStepDone?.(stage, first + k);
  }
  const image = editConfig(state.image, () => draft.config);
  image.config.history = [...(state.image.config.history ?? []), ...history];
  if (author !== undefined) image.config.author = author;
  return { ...state, image, shell, cmdSet, ...(args ? { args } : {}) };
}

/** Runs `body` alone among the steps of the same key (none when the key is undefined). */
async function oneAtATime<T>(env: StageEnv, key: string | undefined, body: () => Promise<T>): Promise<T> {
  const release = key && env.stepLocks ? await env.stepLocks.acquire(key) : undefined;
  try {
    return await body();
  } finally {
    release?.();
  }
}

async function step(inst: Instruction, state: StageState, env: StageEnv, stage: Stage, kept: KeptTree): Promise<StageState> {
  const history = (createdBy: string) => ({ created: env.created, created_by: redactUrlCredentials(createdBy), comment: HISTORY_COMMENT });
  switch (inst.kind) {
    case 'run': {
      const workdir = state.image.config.config?.WorkingDir || '/';
      const user = state.image.config.config?.User ?? '';
      const execute = env.executed?.has(inst) === true && env.execBackend !== undefined;
      // The stage's own platform (FROM --platform=$BUILDPLATFORM builds for the host in a cross
      // build): what uname answers and what the step key names, so every target shares the work.
      const stagePlatform = { os: state.image.config.os, architecture: state.image.config.architecture, ...(state.image.config.variant ? { variant: state.image.config.variant } : {}) };
      const platform = formatPlatform(stagePlatform);
      const cache = env.layerCache;
      const cacheDir = cache?.cache;
      // Keyed before it runs, and with --no-cache too (nothing is looked up then), so the next build finds the record.
      const stepKey = cache
        ? runStepKey({ inst, image: state.image, vars: varsOf(state), workdir, user, shell: state.shell, escape: env.escape, mtime: env.mtime, compression: env.compression, settings: `${env.runSettings ?? ''} ${platform} ${execute ? env.execBackend : 'native'} ${JSON.stringify(await mountKeys(inst.flags, mountEnv(env, stage)))}` })
        : undefined;
      // The same step in two stages (or platforms) runs once: the second waits, then finds the first's record.
      return oneAtATime(env, cache?.lookup ? stepKey : undefined, async () => {
        if (stepKey && cache?.lookup && cacheDir) {
          const rec = await readStep(cacheDir, stepKey);
          const layer = rec && (await lookupLayer(env.store, cache, rec.layerKey, env.compression));
          if (rec && layer) {
            // Nothing runs and nothing is fetched; a later step that reads the filesystem reads the layers' blobs.
            if (rec.materials?.length) env.onMaterials?.(rec.materials);
            for (const p of rec.apk ?? []) env.onApk?.(p);
            return addLayer(state, env, layer, history(rec.createdBy), (image) => new MergedFs(image, `stage ${stage.name ?? stage.index}`));
          }
        }
        const spec = { json: inst.json, args: inst.args, heredocs: inst.heredocs, flags: inst.flags, shell: state.shell };
        const record = (createdBy: string, materials: readonly { uri: string; digest: string }[], apk: readonly ApkInstall[] = []) => async (layer: CachedLayer) => {
          if (stepKey && cacheDir && layer.key) await writeStep(cacheDir, stepKey, { layerKey: layer.key, createdBy, ...(materials.length ? { materials: [...materials] } : {}), ...(apk.length ? { apk: [...apk] } : {}) });
        };
        const network = runNetwork(inst.flags, env.network);
        const executeIt = async (backend: Backend) => {
          // The tree the stage's last executed RUN left is this RUN's when nothing wrote a layer since (and the sandbox is the same).
          const prior = kept.tree;
          kept.tree = undefined;
          const reuse = prior !== undefined && prior.backend === backend && prior.layers === layersOf(state.image);
          if (prior && !reuse) await rm(prior.dir, { recursive: true, force: true });
          const dir = reuse ? prior.dir : await mkdtemp(join(env.scratch, 'exec-'));
          // The interpreter and the executor are loaded by the first RUN: a build without one never reads them.
          const { executeRun } = await import('../run/exec/execute.js');
          const r = await executeRun({ backend, spec, image: state.image, env: varsOf(state), workdir, user, scratch: dir, mounts: mountSources({ ...mountEnv(env, stage), scratch: dir }), network, reuseTree: reuse, ...(env.runHost ? { host: env.runHost } : {}), ...(env.onOutput ? { log: env.onOutput } : {}) });
          try {
            // The layer's files are read from the tree; the tree is then kept for the next executed RUN.
            const next = await writeEntries(state, env, r.entries, { uid: 0, gid: 0 }, history(r.createdBy), state.fs, false, record(r.createdBy, []));
            kept.tree = { dir, layers: layersOf(next.image), backend };
            return next;
          } catch (err) {
            await r.done();
            throw err;
          }
        };
        if (execute) return executeIt(env.execBackend!);
        const { extra: commands, fetched } = recordingDownloads(env, network === 'none');
        const run = await import('../run/run.js');
        const extra = commands?.has('uname') ? new Map(commands).set('uname', (await import('../run/commands/system.js')).unameCommand(stagePlatform)) : commands;
        const installed: ApkInstall[] = [];
        const onApk = (p: ApkInstall) => { env.onApk?.(p); installed.push(p); };
        let native: Awaited<ReturnType<typeof runNative>>;
        try {
          const { bindSource } = mountSources(mountEnv(env, stage));
          native = await run.runNative({ spec, fs: state.fs, env: varsOf(state), workdir, user, scratch: env.scratch, bindSource, onApk, ...(env.onOutput ? { log: env.onOutput } : {}), ...(extra ? { extra } : {}) });
        } catch (err) {
          // Found only as it ran (a command named through a variable, a SHELL ocimake cannot
          // interpret, an option or form a native command refuses): executed whole where a
          // sandbox works, since native is for whole RUNs; --isolation native has no fallback.
          const fallback = err instanceof OcimakeError && err.code === 'RUN_UNSUPPORTED' ? env.execFallback?.() : undefined;
          if (fallback) return executeIt(fallback);
          throw err;
        }
        return writeEntries(state, env, native.entries, { uid: 0, gid: 0 }, history(native.createdBy), state.fs, true, record(native.createdBy, fetched, installed));
      });
    }
    case 'copy':
    case 'add': {
      const workdir = state.image.config.config?.WorkingDir || '/';
      // --link (as BuildKit): the layer is made on its own, reading nothing of the stage below,
      // so destination symlinks are not followed and every directory it names is a real one.
      const destFs = inst.link ? new MergedFs({ config: state.image.config, layers: [] }, 'the linked layer') : state.fs;
      const plan = async () => {
        const lookupId = chownNeedsNames(inst.chown) ? await loadIdLookup(state.fs, env.scratch) : undefined;
        if (inst.from !== undefined) {
          if (inst.kind === 'add') throw lineError(env.file, inst.line, 'ADD does not take --from', 'use COPY --from=...');
          if (expandWord(inst.from, new Map(), env.escape) !== inst.from) {
            // As BuildKit (since Dockerfile 1.18): a variable would hide which stage this one needs.
            throw lineError(env.file, inst.line, `variable expansion is not supported for --from ("${inst.from}")`, 'define a stage with FROM using a global ARG (ARG IMG=… before the first FROM; FROM ${IMG} AS src) and COPY --from=src', 'DOCKERFILE_INVALID');
          }
          const from = await env.resolveFrom(inst.from, stage);
          return planCopy({ inst, source: imageSource(from.fs, from.what), fs: destFs, env: varsOf(state), workdir, escape: env.escape, scratch: env.scratch, ...(lookupId ? { lookupId } : {}) });
        }
        return planCopy({ inst, source: contextSource(env.context), fs: destFs, env: varsOf(state), workdir, escape: env.escape, scratch: env.scratch, ...(lookupId ? { lookupId } : {}), ...(env.fetchUrl ? { fetchUrl: env.fetchUrl } : {}) });
      };
      const cache = env.layerCache;
      // Keyed with --no-cache too (nothing is looked up then), so the next build finds the record.
      // A COPY --from is keyed by what it reads: the layers of the stage or image it names (whose
      // resolution the plan would do anyway; a --from with a variable is left to the plan's error).
      const from = cache && inst.kind === 'copy' && inst.from !== undefined && expandWord(inst.from, new Map(), env.escape) === inst.from
        ? await env.resolveFrom(inst.from, stage)
        : undefined;
      const stepKey = cache
        ? await copyStepKey({ inst, image: state.image, vars: varsOf(state), workdir, escape: env.escape, mtime: env.mtime, compression: env.compression, context: env.context, ...(from ? { fromLayers: from.layers } : {}) })
        : undefined;
      const cacheDir = cache?.cache;
      // The same step in two stages (or platforms) runs once: the second waits, then finds the first's record.
      return oneAtATime(env, cache?.lookup ? stepKey : undefined, async () => {
        if (stepKey && cache?.lookup && cacheDir) {
          const rec = await readStep(cacheDir, stepKey);
          const layer = rec && (await lookupLayer(env.store, cache, rec.layerKey, env.compression));
          if (rec && layer) {
            env.context.forgetWalks();
            // Planned only if a later step reads the filesystem (a COPY's destination, a RUN). A
            // failure then (the context changed since the key) is this step's, and says so.
            const entries = async () => {
              try {
                const p = await plan();
                return await placeEntries(destFs, p.entries, p.owner);
              } catch (err) {
                throw atLine(env, inst, err);
              }
            };
            return addLayer(state, env, layer, history(rec.createdBy), (image) => state.fs.withLazyLayer(image, entries));
          }
        }
        const p = await plan();
        env.context.forgetWalks();
        return writeEntries(state, env, p.entries, p.owner, history(p.createdBy), destFs, false, async (layer) => {
          if (stepKey && cacheDir && layer.key) await writeStep(cacheDir, stepKey, { layerKey: layer.key, createdBy: p.createdBy });
        });
      });
    }
    case 'workdir': {
      const edit = applyConfigInstruction(inst, draftConfig(state.image.config.config ?? {}), varsOf(state), { shell: state.shell, cmdSet: state.cmdSet, escape: env.escape });
      const dir = await state.fs.realPath(edit.config.WorkingDir ?? '/', true);
      if (await state.fs.isDirectory(dir)) return { ...state, image: editConfig(state.image, () => edit.config, history(edit.createdBy)) };
      // The directory is created, as Docker does, in a layer of its own, owned by the USER.
      const withConfig: StageState = { ...state, image: editConfig(state.image, () => edit.config) };
      const path = normalizeEntryPath(dir);
      const owner = await userOwner(state, env);
      return writeEntries(withConfig, env, [{ type: 'directory', path, mode: 0o755, ...owner }], owner, history(edit.createdBy));
    }
    default:
      throw new OcimakeError('INTERNAL', `${inst.kind} is handled by configRun`);
  }
}

/** What an executed RUN's mounts read from the build. */
function mountEnv(env: StageEnv, stage: Stage): RunMountEnv {
  return {
    context: env.context, scratch: env.scratch,
    ...(env.layerCache ? { cacheDir: env.layerCache.cache.part('run-cache') } : {}),
    ...(env.secrets ? { secrets: env.secrets } : {}),
    ...(env.ssh ? { ssh: env.ssh } : {}),
    resolveFrom: (name) => env.resolveFrom(name, stage),
  };
}

async function writeEntries(state: StageState, env: StageEnv, entries: readonly LayerEntry[], owner: { uid: number; gid: number }, history: History, placeOn: MergedFs = state.fs, placed = false, onWritten?: (layer: CachedLayer) => Promise<void>): Promise<StageState> {
  // RUN's entries are placed already: its view resolved every path as it ran.
  const all = placed ? entries : await placeEntries(placeOn, entries, owner);
  const layer = await writeLayerCached(env.store, all, { mtime: env.mtime, ...(env.compression ? { compression: env.compression } : {}) }, env.layerCache);
  await onWritten?.(layer);
  return addLayer(state, env, layer, history, (image) => state.fs.withLayer(image, all));
}

/** The stage with `layer` on top: its image, and its filesystem as `fsOf` makes it. */
function addLayer(state: StageState, env: StageEnv, layer: CachedLayer, history: History, fsOf: (image: Image) => MergedFs): StageState {
  const built: Layer = {
    descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size },
    diffId: layer.diffId,
    source: layer.source ?? env.store.source(),
    ...(layer.origin ? { origin: layer.origin } : {}),
  };
  for (const key of [layer.key, layer.alias]) if (key) env.onLayerKey?.(key, built, layer.uncompressedSize);
  const image = appendLayer(state.image, built, history);
  return { ...state, image, fs: fsOf(image), lastLayerCached: layer.cached };
}

/** The uid and gid of the stage's USER (names from its /etc/passwd and /etc/group), root when unset. */
async function userOwner(state: StageState, env: StageEnv): Promise<{ uid: number; gid: number }> {
  const user = state.image.config.config?.User ?? '';
  if (user === '') return { uid: 0, gid: 0 };
  const lookupId = chownNeedsNames(user) ? await loadIdLookup(state.fs, env.scratch) : undefined;
  try {
    return parseChown(user, lookupId);
  } catch (err) {
    throw new OcimakeError('USER_INVALID', `USER "${user}" is not in the image's /etc/passwd or /etc/group`, { cause: err, hint: 'add the user first (COPY an /etc/passwd, or adduser), or use numeric ids: USER 1000:1000' });
  }
}
