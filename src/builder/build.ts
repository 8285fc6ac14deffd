import { makeScratchDir, trackTemp } from '../util/temp-files.js';
import { promises as fs } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { sha256 } from '../oci/digest.js';
import { formatReference } from '../oci/reference.js';
import { readDockerfile } from '../dockerfile/read.js';
import { OcimakeError } from '../errors.js';
import { imageArtifacts, type Image, type ImageArtifacts } from '../image/image.js';
import { editConfig } from '../image/mutate.js';
import { BlobStore } from '../store/blob-store.js';
import { defaultMtime } from '../layer/tar-writer.js';
import type { Instruction } from '../dockerfile/instructions.js';
import { expandWord } from '../dockerfile/shell-lex.js';
import { planDockerfile, type Stage } from '../dockerfile/stages.js';
import { formatPlatform, hostPlatform } from '../oci/platform.js';
import type { Platform } from '../oci/schemas.js';
import { BuildContext } from './context.js';
import { runStage, type StageEnv } from './stage.js';
import { flushStatCache } from '../layer/layer-cache.js';
import { layerIds } from './step-cache.js';
import { closest } from '../util/suggest.js';
import { parseIsolation, type Isolation } from '../run/exec/isolation.js';
import type { NetworkMode } from '../run/flags.js';
import { planRuns } from './run-plan.js';
import { apkOf, runTools } from './build-env.js';
import type { SecretSpec } from './run-mounts.js';
import { Cache } from '../store/cache.js';
import { baseState, stageRef } from './base.js';
import { BUILTIN_ARGS, planBuild } from './build-plan.js';
import { StageScheduler } from './schedule.js';
import type { FromSource } from './stage.js';
import { MergedFs } from '../image/merged-fs.js';
import { openImage, type OpenedImage } from '../source/open.js';
import { parseBuildContexts } from './named-contexts.js';
import type { LayerCompression } from '../layer/tar-writer.js';
import { importCache, parseCacheSpec, type CacheRecord } from './build-cache.js';
import { Remote } from '../remote/registry-image.js';
import type { TransportOptions } from '../remote/transport.js';
import type { LockGuard, Pins } from './lock.js';
import type { RunHost } from '../run/exec/execute.js';
import { KeyedLock } from '../util/keyed-lock.js';

/** Inputs of a build, as `ocimake build` takes them. */
export interface BuildOptions extends TransportOptions {
  /** Digest the whole build context for provenance (BuildContext.digest). */
  digestContext?: boolean;
  /** The build context directory. */
  context: string;
  /** The Dockerfile path; default CONTEXT/Dockerfile. */
  dockerfile?: string;
  /** The Dockerfile's text, when it does not come from a file (`-f -`). */
  dockerfileText?: string;
  buildArgs?: Record<string, string>;
  /** Labels added to the final image (--label). */
  labels?: Record<string, string>;
  /** The stage to build (--target); default the last. */
  target?: string;
  platform?: Platform;
  /** Blob cache directory; default $XDG_CACHE_HOME/ocimake. */
  cacheDir?: string;
  /** Seconds since the epoch for every timestamp; default SOURCE_DATE_EPOCH, else 0. */
  sourceDateEpoch?: number;
  onProgress?: (e: BuildProgress) => void;
  /** RUN's output, line by line. */
  onRunOutput?: (line: string) => void;
  /** Native apk's policy: --apk-allow-untrusted, --apk-mirror (or OCIMAKE_APK_MIRROR), --strict-scripts. */
  apk?: { allowUntrusted?: boolean; mirror?: string; strictScripts?: boolean };
  /** --build-context NAME=VALUE: a directory, docker-image://REF or oci-layout://DIR[:TAG] standing in for the image or stage NAME. */
  buildContexts?: Record<string, string>;
  /** --no-cache: build every layer again (what is built is still recorded for later builds). */
  noCache?: boolean;
  /** --secret: values for RUN --mount=type=secret, by id. */
  secrets?: Record<string, SecretSpec>;
  /** --ssh: SSH agent sockets by id, for RUN --mount=type=ssh (never in a layer or a key). */
  ssh?: Record<string, string>;
  /** --isolation: how a RUN that needs a program is executed (default OCIMAKE_ISOLATION, else auto). */
  isolation?: Isolation;
  /** --network: the network of every RUN that names none of its own (default, none or host; buildx's). */
  network?: NetworkMode;
  /** --no-cache-filter: the stages (by name or index) built again, as --no-cache does for all. */
  noCacheFilter?: readonly string[];
  /** How new layers are compressed (-o ...,compression=gzip|zstd|uncompressed,compression-level=N). */
  compression?: LayerCompression;
  /** --cache-from: caches written by --cache-to (or images built with --cache-to type=inline). */
  cacheFrom?: readonly string[];
  /** --locked: every image, download and apk package is checked against ocimake.lock as it resolves. */
  locked?: LockGuard;
  /** --add-host, --shm-size, --ulimit (buildx's): for every RUN; --add-host also for what a native RUN fetches. */
  runHost?: RunHost;
  /** The command's registry clients (one per registry, with their tokens), shared by the build, its pushes, cache export and attestations. */
  remote?: Remote;
}

/** What a build reports as it goes; `platform` is the platform being built (os/arch[/variant]). */
export type BuildProgress =
  | { kind: 'stage'; stage: Stage; total: number; platform: string }
  | { kind: 'from'; stage: Stage; platform: string; name: string }
  | { kind: 'step'; stage: Stage; inst: Instruction; index: number; platform: string }
  | { kind: 'step-done'; stage: Stage; index: number; platform: string; layerBytes?: number; cached?: boolean }
  | { kind: 'stage-done'; stage: Stage; platform: string }
  | { kind: 'warning'; message: string };

export interface BuildResult {
  image: Image;
  artifacts: ImageArtifacts;
  store: BlobStore;
  warnings: string[];
  /** Every layer the build made or reused, with its cache key (what --cache-to exports). */
  cacheRecords: CacheRecord[];
  /** What provenance names: the Dockerfile by digest, every image the build opened, the context's digest when asked for, and the lock. */
  inputs: { dockerfile: { path: string; digest: string }; materials: { uri: string; digest: string }[]; contextDigest?: string; lock?: { path: string; digest: string } };
  /** What ocimake.lock pins of this build: the images it opened, its downloads, its apk packages. */
  pins: Pins;
}

/** What COPY --from reads: `fs`, and `image`'s layers as its step-cache key names them. */
function sourceOf(fs: MergedFs, image: Image, what: string): FromSource {
  return { fs, what, layers: layerIds(image) };
}

/**
 * COPY --from=NAME where no earlier stage is NAME and the image NAME could not be opened: a
 * plain word is most likely a mistyped stage, so that is said first (as BuildKit does not).
 */
export function noSuchStage(name: string, earlier: readonly Stage[], err: unknown): unknown {
  if (/[/:.@]/.test(name) || !(err instanceof OcimakeError) || err.code.startsWith('LOCK_')) return err;
  const names = earlier.flatMap((s) => (s.name ? [s.name, String(s.index)] : [String(s.index)]));
  const guess = closest(name, earlier.map((s) => s.name).filter((n): n is string => n !== undefined));
  return new OcimakeError(err.code, `no stage before this one is named "${name}" (${names.length ? `stages: ${names.join(', ')}` : 'there is none'}), and as an image: ${err.message}`, {
    hint: guess ? `did you mean --from=${guess}?` : 'name an earlier stage (FROM ... AS NAME) or an image that exists',
    cause: err,
  });
}

/**
 * Builds the target stage of a Dockerfile into an image whose layers sit in the blob
 * cache. Only the stages the target needs are built. Nothing is executed: metadata
 * instructions edit the config and COPY/ADD write deterministic layers.
 */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  const contextDir = resolve(opts.context);
  const dockerfilePath = resolve(opts.dockerfile ?? join(contextDir, 'Dockerfile'));
  const text = opts.dockerfileText ?? await readDockerfile(dockerfilePath, { allowPipe: opts.dockerfile !== undefined });
  const fileLabel = opts.dockerfileText !== undefined ? 'Dockerfile (stdin)' : opts.dockerfile ? opts.dockerfile : 'Dockerfile';
  const named = parseBuildContexts(Object.entries(opts.buildContexts ?? {}).map(([k, v]) => `${k}=${v}`));
  let plan = planDockerfile(text, fileLabel);
  // As buildx: a named context replaces the stage of the same name.
  if ([...named.keys()].some((n) => plan.stages.some((st) => st.name === n))) {
    plan = { ...plan, stages: plan.stages.map((st) => (st.name !== undefined && named.has(st.name) ? { ...st, name: undefined } : st)) };
  }
  const context = await BuildContext.open(contextDir, dockerfilePath);
  context.onSkip = (message) => warn(message);
  const cache = Cache.open(opts.cacheDir);
  const store = cache.blobs;
  const platform = opts.platform ?? hostPlatform();
  const epoch = opts.sourceDateEpoch ?? defaultMtime();
  const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
  const buildArgs = new Map(Object.entries(opts.buildArgs ?? {}));
  const warnings: string[] = [];
  const warn = (message: string) => { warnings.push(message); opts.onProgress?.({ kind: 'warning', message }); };

  const graph = planBuild(plan, buildArgs, platform, opts.target);
  const { globalArgs, target, needed } = graph;
  const remote = opts.remote ?? new Remote(opts);
  const platformName = formatPlatform(platform);
  const namedOpened = new Map<string, Promise<OpenedImage>>();
  const materials: { uri: string; digest: string }[] = [];
  const pins: Pins = { images: [], urls: [], apk: [] };
  // Each image is named to the lock (and checked by --locked) before any of its layers is read.
  const noted = (plat: Platform) => (o: OpenedImage): OpenedImage => {
    // Provenance names what was really pulled: a mirror that answered is its repository_url (purl's qualifier).
    materials.push({ uri: o.ref ? `pkg:docker/${formatReference({ ...o.ref, digest: undefined })}${o.mirror ? `?repository_url=${encodeURIComponent(o.mirror)}` : ''}` : o.what, digest: o.digest });
    const pin = { ref: o.ref ? formatReference(o.ref) : o.what, platform: formatPlatform(plat), digest: o.digest };
    opts.locked?.image(pin);
    pins.images.push(pin);
    return o;
  };
  // Each image once per platform (stages that share a base share its opening).
  const openedImages = new Map<string, Promise<OpenedImage>>();
  const open = (name: string, plat: Platform): Promise<OpenedImage> => {
    const c = named.get(name.toLowerCase());
    if (!c) {
      const key = `${name}|${formatPlatform(plat)}`;
      let o = openedImages.get(key);
      if (!o) openedImages.set(key, (o = openImage(name, { remote, platform: plat, store }).then(noted(plat))));
      return o;
    }
    const key = `${name.toLowerCase()}|${formatPlatform(plat)}`;
    let p = namedOpened.get(key);
    if (!p) {
      p = c.kind === 'image'
        ? openImage(c.spec, { remote, platform: plat, store }).then(noted(plat)).then((o) => ({ ...o, what: `${o.what} (--build-context ${name})` }))
        : build({ ...opts, context: c.path, dockerfile: undefined, dockerfileText: 'FROM scratch\nCOPY . /\n', platform: plat, buildContexts: {}, labels: {}, buildArgs: {}, target: undefined, onProgress: undefined, noCacheFilter: [] })
          .then((r) => ({ image: r.image, digest: r.artifacts.digest, what: `build context ${name} (${c.given})` }));
      namedOpened.set(key, p);
    }
    return p;
  };
  const scratch = await makeScratchDir('build');
  const untrackScratch = trackTemp(scratch);
  const consumed = new Set<string>(plan.globalArgs.flatMap((a) => a.args.map((x) => x.name)));
  const { fetchUrl, apkOptions, runCommands } = runTools(opts, platform, cache, scratch, warn);
  // RUNs that would need a program ocimake does not have fail now, before anything is pulled.
  const runPlan = await planRuns(plan.file, plan.stages.filter((s) => needed.has(s.index)), runCommands, opts.isolation ?? parseIsolation(), graph.platformOf);
  // Every base image is looked up now, at once, while the stages before it run and the context is hashed (the plan above has let the build start).
  for (const b of graph.bases) open(b.name, b.platform).catch(() => undefined);
  const cacheFrom = (opts.cacheFrom ?? []).map((c) => parseCacheSpec('--cache-from', c));
  const imported = cacheFrom.length > 0 && opts.noCache !== true ? await importCache(cacheFrom, { remote, store, warn }) : undefined;
  const cacheRecords: CacheRecord[] = [];
  const env: StageEnv = {
    file: plan.file, escape: plan.escape, context, store, buildArgs, globalArgs, consumed, created, mtime: epoch, scratch, runCommands,
    ...(opts.onRunOutput ? { onOutput: opts.onRunOutput } : {}),
    onStep: (stage, inst, index) => opts.onProgress?.({ kind: 'step', stage, inst, index, platform: platformName }),
    onStepDone: (stage, index, layerBytes, cached) => opts.onProgress?.({ kind: 'step-done', stage, index, platform: platformName, ...(layerBytes !== undefined ? { layerBytes } : {}), ...(cached ? { cached } : {}) }),
    ...(opts.compression ? { compression: opts.compression } : {}),
    layerCache: { cache, lookup: opts.noCache !== true, ...(imported ? { imported } : {}) },
    onLayerKey: (key, layer, uncompressedSize) => { cacheRecords.push({ key, layer, uncompressedSize }); },
    stepLocks: new KeyedLock(),
    fetchUrl,
    // What changes a RUN's result besides its stage: uname answers for the platform, apk's options.
    // (stage.ts adds the stage's platform: a FROM --platform=$BUILDPLATFORM stage is the same work for every target.)
    ...(opts.runHost ? { runHost: opts.runHost } : {}),
    runSettings: JSON.stringify({ ...(opts.runHost ? { host: { addHosts: [...(opts.runHost.addHosts ?? [])], shm: opts.runHost.shmBytes ?? 0, limits: opts.runHost.limits ?? [] } } : {}), isolation: 'native', network: opts.network ?? 'default', allowUntrusted: opts.apk?.allowUntrusted === true, strictScripts: opts.apk?.strictScripts === true }),
    onMaterials: (m) => { materials.push(...m); },
    onApk: (p) => {
      const pin = { ...p, platform: platformName };
      opts.locked?.apk(pin);
      pins.apk.push(pin);
    },
    executed: runPlan.executed,
    ...(opts.network ? { network: opts.network } : {}),
    offlineApk: apkOf({ ...apkOptions, offline: true }),
    ...(opts.secrets ? { secrets: new Map(Object.entries(opts.secrets)) } : {}),
    ...(opts.ssh ? { ssh: new Map(Object.entries(opts.ssh)) } : {}),
    ...(runPlan.backend ? { execBackend: runPlan.backend } : {}),
    execFallback: runPlan.fallback,
    resolveFrom: async (name, stage) => {
      const ref = stageRef(plan, name, stage.index);
      if (ref) await runOne(ref);
      const key = ref ? `stage:${ref.index}` : `image:${name}`;
      let hit = fromCache.get(key);
      if (!hit) {
        hit = ref
          ? Promise.resolve(sourceOf(results.get(ref.index)!.fs, results.get(ref.index)!.image, `stage ${ref.name ?? ref.index}`))
          : open(name, platform).then((o) => sourceOf(new MergedFs(o.image, o.what), o.image, o.what), (err: unknown) => {
            throw noSuchStage(name, plan.stages.filter((s) => s.index < stage.index), err);
          });
        fromCache.set(key, hit);
      }
      return hit;
    },
  };
  // --no-cache-filter (buildx): these stages look nothing up; what they build is still recorded.
  const noCacheStages = new Set((opts.noCacheFilter ?? []).map((n) => n.toLowerCase()));
  for (const n of noCacheStages) {
    if (!plan.stages.some((s) => s.name?.toLowerCase() === n || String(s.index) === n)) {
      throw new OcimakeError('FLAG_INVALID', `--no-cache-filter ${n}: the Dockerfile has no stage of that name`, { hint: `its stages: ${plan.stages.map((s) => s.name ?? String(s.index)).join(', ')}` });
    }
  }
  const noCacheFor = (stage: Stage) => noCacheStages.has(stage.name?.toLowerCase() ?? '') || noCacheStages.has(String(stage.index));
  const fromCache = new Map<string, Promise<FromSource>>();
  const scheduler: StageScheduler = new StageScheduler(graph, async (stage) => {
    opts.onProgress?.({ kind: 'stage', stage, total: needed.size, platform: platformName });
    const initial = await baseState({ plan, stage, results: scheduler.results, globalArgs, platform, created, open });
    opts.onProgress?.({ kind: 'from', stage, platform: platformName, name: initial.baseName ?? expandWord(stage.from.image, globalArgs, plan.escape) });
    const done = await runStage(stage, initial, noCacheFor(stage) && env.layerCache ? { ...env, layerCache: { ...env.layerCache, lookup: false } } : env);
    opts.onProgress?.({ kind: 'stage-done', stage, platform: platformName });
    return done;
  });
  const runOne = (stage: Stage) => scheduler.run(stage);
  const results = scheduler.results;
  let contextDigest: string | undefined;
  const releaseCache = cache.use();
  try {
    await runOne(target);
    // Before the stat cache is written: the digests it learns are kept too.
    if (opts.digestContext) contextDigest = await context.digest();
  } finally {
    await flushStatCache();
    await fs.rm(scratch, { recursive: true, force: true });
    untrackScratch();
    releaseCache();
  }
  const unused = [...buildArgs.keys()].filter((k) => !consumed.has(k) && !BUILTIN_ARGS.has(k));
  if (unused.length > 0) warn(`one or more build-args [${unused.join(' ')}] were not consumed`);
  let image = results.get(target.index)!.image;
  if (opts.labels && Object.keys(opts.labels).length > 0) {
    image = editConfig(image, (c) => ({ ...c, Labels: { ...(c.Labels ?? {}), ...opts.labels } }));
  }
  // What ADD <url> and RUN's wget/curl downloaded are inputs too, by their digest.
  materials.push(...fetchUrl.downloads());
  for (const m of materials) {
    if (!/^https?:\/\//i.test(m.uri)) continue;
    const pin = { url: m.uri, digest: m.digest };
    opts.locked?.url(pin);
    pins.urls.push(pin);
  }
  const inputs = { ...(contextDigest ? { contextDigest } : {}), dockerfile: { path: opts.dockerfileText !== undefined && opts.dockerfile === undefined ? '-' : relativeTo(contextDir, dockerfilePath), digest: sha256(Buffer.from(text)) }, materials };
  return { image, artifacts: imageArtifacts(image), store, warnings, cacheRecords, inputs, pins };
}

/** The Dockerfile's path as provenance names it: relative to the context when inside it. */
function relativeTo(context: string, file: string): string {
  const r = relative(context, file);
  return r.startsWith('..') ? file : r;
}
