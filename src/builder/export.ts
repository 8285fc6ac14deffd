import { checkDestination, mkdirp } from '../util/fs-paths.js';
import { createReadStream, promises as fs } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { makeScratchDir, trackTemp } from '../util/temp-files.js';
import { OcimakeError } from '../errors.js';
import type { Descriptor } from '../oci/schemas.js';
import { writeDockerArchive } from '../layout/docker-archive.js';
import { writeFileAtomic, writeOciLayout } from '../layout/oci-layout.js';
import { archiveLayout, writeOciArchive } from '../layout/oci-archive.js';
import { checkEmptyDestination, writeRootfs, writeRootfsTar } from '../source/extract.js';
import { pushImage, type PushEvent } from '../remote/push.js';
import { familiarName } from '../oci/familiar.js';
import { formatReference, parseReference, repositoryName, type Reference } from '../oci/reference.js';
import type { TransportOptions } from '../remote/transport.js';
import { build, type BuildOptions, type BuildResult } from './build.js';
import { indexArtifacts, pushIndex, writeOciLayoutIndex, type IndexExtras } from './multi-platform.js';
import { annotationsFor, parseAnnotation, type Annotation } from './annotations.js';
import { looksSecret } from '../dockerfile/checks.js';
import { exportCache, parseCacheSpec, withInlineKeys, type CacheSpec } from './build-cache.js';
import { lockGuard, settleLock, type LockOption } from './lock.js';
import { Remote } from '../remote/registry-image.js';
// Signing loads sigstore-js and the CycloneDX library (0.15 s, 15 MB): only builds that --sign import them.
import type { AttestInput, AttestOptions } from '../attest/attach.js';
import type { IndexAttestation } from '../attest/in-index.js';
import { formatPlatform, hostPlatform } from '../oci/platform.js';
import { imageArtifacts } from '../image/image.js';
import type { Image } from '../image/image.js';
import { checkCompression, type LayerCompression } from '../layer/tar-writer.js';
import type { Platform } from '../oci/schemas.js';

/** Where a build goes, as buildx's --output spells it. */
export type Output =
  | { type: 'oci'; dest: string; name?: string; tar?: boolean; compression?: LayerCompression }
  | { type: 'local'; dest: string }
  | { type: 'tar'; dest: string }
  | { type: 'docker'; dest: string; name?: string; compression?: LayerCompression }
  | { type: 'registry'; name?: string; compression?: LayerCompression; /** push-by-digest=true: the manifest goes up untagged, by its digest. */ byDigest?: boolean };

export interface BuildAndExportOptions extends BuildOptions, TransportOptions {
  /** Several platforms make a multi-platform image (an OCI index); `platform` is ignored then. */
  platforms?: readonly Platform[];
  /** -t: image references (the first names OCI and docker outputs too). */
  tags?: readonly string[];
  /** --push: same as an extra `type=registry` output. */
  push?: boolean;
  outputs?: readonly Output[];
  /** --iidfile: receives the image ID (the config digest, as Docker defines it). */
  iidFile?: string;
  /** --metadata-file: receives buildx-style JSON with the digest, descriptor and names. */
  metadataFile?: string;
  onPush?: (e: PushEvent) => void;
  /** --annotation [TYPE[,TYPE][[PLATFORM]]:]KEY=VALUE, as buildx takes them. */
  annotations?: readonly string[];
  /** --cache-to: type=registry,ref=REF | type=local,dest=DIR | type=inline, with mode=min|max. */
  cacheTo?: readonly string[];
  /** --sign --key FILE [--provenance] [--sbom]: signed attestations pushed as referrers of each pushed image. */
  attest?: AttestOptions & { version: string };
  /** --provenance / --sbom without --sign (buildx's): unsigned attestation manifests in the image index, which the build then always is. */
  indexAttest?: { provenance: 'min' | 'max' | false; sbom: boolean; version: string };
  /** --lock (write ocimake.lock) or --locked (build by it). */
  lock?: LockOption;
}

export interface BuildAndExportResult extends BuildResult {
  /** The manifest digest, or the index digest of a multi-platform build. */
  digest: string;
  /** Each platform's image, for a multi-platform build. */
  images?: Image[];
  descriptor: Descriptor;
  tags: Reference[];
}

/**
 * `ocimake build`: builds, then writes every output (OCI layout, docker archive, registry
 * push) and the iid/metadata files. References are checked before the build starts, so a
 * bad tag fails fast; nothing is tagged until all its blobs are in place.
 */
export async function buildAndExport(opts: BuildAndExportOptions): Promise<BuildAndExportResult> {
  const outputs = [...(opts.outputs ?? [])];
  if (opts.push && !outputs.some((o) => o.type === 'registry')) outputs.push({ type: 'registry' });
  const tags = (opts.tags ?? []).map((t) => parseReference(t));
  for (const o of outputs) {
    if (o.type === 'registry' && tags.length === 0 && !o.name) {
      throw new OcimakeError('TAG_REQUIRED', 'pushing needs an image name', { hint: 'add -t registry/name:tag' });
    }
  }
  const toStdout = outputs.filter((o) => 'dest' in o && o.dest === '-');
  if (toStdout.length > 1) throw new OcimakeError('OUTPUT_INVALID', 'only one output can go to stdout (dest=-)', { hint: 'write the others to files' });
  if (toStdout.length === 1 && process.stdout.isTTY) throw new OcimakeError('OUTPUT_INVALID', 'refusing to write a tar archive to a terminal', { hint: 'redirect stdout to a file or a pipe (... > image.tar), or give dest=FILE' });
  const annotations = (opts.annotations ?? []).map(parseAnnotation);
  // Layers are written once for every output: the outputs must agree on their compression.
  const describe = (c: LayerCompression) => `${c.algo}${c.level !== undefined ? ` level ${c.level}` : ''}`;
  const asked = new Map(outputs.flatMap((o) => ('compression' in o && o.compression ? [[describe(o.compression), o.compression] as const] : [])));
  if (asked.size > 1) throw new OcimakeError('OUTPUT_INVALID', `the outputs ask for different layer compressions (${[...asked.keys()].join(', ')})`, { hint: 'ocimake writes each layer once; give every output the same compression, or build twice' });
  if (asked.size === 1) opts = { ...opts, compression: [...asked.values()][0]! };
  checkCompression(opts.compression);
  const cacheTo = (opts.cacheTo ?? []).map((c) => parseCacheSpec('--cache-to', c));
  for (const c of opts.cacheFrom ?? []) parseCacheSpec('--cache-from', c);
  const multi = (opts.platforms?.length ?? 0) > 1;
  if (opts.indexAttest && !outputs.some((o) => o.type === 'registry' || o.type === 'oci')) {
    throw new OcimakeError('FLAG_INVALID', '--provenance and --sbom go into the image index of a pushed image or an OCI layout, and there is neither', { hint: 'add --push, or -o type=oci,dest=DIR (or FILE.tar); or drop them' });
  }
  if (opts.attest) {
    if (!outputs.some((o) => o.type === 'registry' || o.type === 'oci')) throw new OcimakeError('FLAG_INVALID', '--sign attaches attestations to a pushed image or an OCI layout, and there is neither', { hint: 'add --push, or -o type=oci,dest=DIR (or FILE.tar)' });
    // A bad key, or no identity token, fails before the build.
    if (opts.attest.signing.kind === 'key') (await import('../attest/key-signer.js')).loadSigningKey(opts.attest.signing.key);
    else (await import('../attest/keyless-signer.js')).checkIdentityAvailable(opts.attest.signing);
  }
  // BuildKit's SecretsUsedInArgOrEnv, for what max provenance writes into a signed, pushed statement.
  if (opts.attest?.provenance === 'max') {
    const secret = Object.keys(opts.buildArgs ?? {}).filter(looksSecret).sort();
    if (secret.length > 0) {
      opts.onProgress?.({ kind: 'warning', message: `--provenance mode=max records the values of build args, and ${secret.join(', ')} look${secret.length === 1 ? 's' : ''} secret: the value${secret.length === 1 ? '' : 's'} will be readable in the signed provenance of the image; keep secrets out of build args (BuildKit passes them as --secret mounts), or use --provenance mode=min, which records build-arg names only` });
    }
  }
  const startedOn = new Date().toISOString();
  // Provenance names the build context by its digest.
  if (opts.attest?.provenance || opts.indexAttest?.provenance) opts = { ...opts, digestContext: true };
  const indexOnly = annotations.find((a) => a.targets.has('index') || a.targets.has('manifest-descriptor'));
  if (indexOnly && !multi) throw new OcimakeError('FLAG_INVALID', `--annotation ${[...indexOnly.targets].join(',')}:${indexOnly.key}=…: a single-platform build makes no index`, { hint: 'annotate the manifest (no type, or manifest:), or build several platforms (--platform a,b)' });
  // Checked before the build, so a full directory does not cost one.
  for (const o of outputs) {
    if (!('dest' in o) || o.dest === '-') continue;
    const isDir = o.type === 'local' || (o.type === 'oci' && !o.tar);
    checkDestination(o.dest, isDir ? 'dir' : 'file', `-o type=${o.type},dest=${o.dest}`);
    if (o.type === 'local') await checkEmptyDestination(o.dest);
  }
  const locked = await lockGuard(opts.lock);
  if (locked) opts = { ...opts, locked };
  // One set of registry clients for the command: the pulls, the pushes, the cache and the attestations share tokens and connections.
  if (!opts.remote) opts = { ...opts, remote: new Remote(opts) };
  if (opts.platforms && opts.platforms.length > 1) return buildMulti(opts, outputs, tags, annotations, cacheTo, startedOn);
  // Unsigned attestations sit beside the image in an index, as buildx's: one platform, built as an index of one.
  if (opts.indexAttest) return buildMulti({ ...opts, platforms: [opts.platform ?? hostPlatform()] }, outputs, tags, annotations, cacheTo, startedOn);
  const result = inlineCache(annotate(await build(opts), annotations), cacheTo);
  await lockResults(opts, [result]);
  const { artifacts } = result;
  for (const o of outputs) {
    const names = 'name' in o && o.name ? o.name.split(',').map((n) => parseReference(n)) : tags;
    if (o.type === 'oci') {
      const first = names[0];
      const refs = first ? { refName: first.tag ?? 'latest', imageName: formatReference(first) } : {};
      const name = first ? repositoryName(first) : 'image';
      if (o.tar && opts.attest) {
        // The layout, with its referrers, written in a scratch directory and archived.
        await toFileOrStdout(o.dest, (f) => archiveLayout(f, async (dir) => {
          await writeOciLayout(dir, result.image, refs);
          await attest(opts, result, artifacts.descriptor, opts.platform ?? hostPlatform(), { dir, name, shown: o.dest }, startedOn);
        }));
      } else if (o.tar) await toFileOrStdout(o.dest, (f) => writeOciArchive(f, result.image, refs));
      else {
        await writeOciLayout(o.dest, result.image, refs);
        if (opts.attest) await attest(opts, result, artifacts.descriptor, opts.platform ?? hostPlatform(), { dir: o.dest, name, shown: o.dest }, startedOn);
      }
    } else if (o.type === 'local') {
      await writeRootfs(o.dest, result.image);
    } else if (o.type === 'tar') {
      await toFileOrStdout(o.dest, (f) => writeRootfsTar(f, result.image));
    } else if (o.type === 'docker') {
      await toFileOrStdout(o.dest, (f) => writeDockerArchive(f, result.image, names));
    } else {
      const pushed = await pushImage(result.image, o.byDigest ? untagged(names) : names, { ...opts, ...(opts.onPush ? { onEvent: opts.onPush } : {}) });
      if (opts.attest) await attest(opts, result, pushed.descriptor, opts.platform ?? hostPlatform(), { refs: names }, startedOn);
    }
  }
  await exportCache(cacheTo, result.cacheRecords, [result.image], { remote: opts.remote ?? new Remote(opts), store: result.store });
  if (opts.iidFile) {
    await mkdirp(dirname(opts.iidFile));
    await writeFileAtomic(opts.iidFile, artifacts.config.digest);
  }
  await writeMetadata(opts, tags, artifacts.descriptor, artifacts.config.digest);
  return { ...result, digest: artifacts.digest, descriptor: artifacts.descriptor, tags };
}

/** The repositories of `refs`, without tags (push-by-digest), each once. */
function untagged(refs: readonly Reference[]): Reference[] {
  return [...new Map(refs.map((r) => [`${r.registry}/${r.repository}`, { registry: r.registry, repository: r.repository }])).values()];
}

/** Runs a file writer on `dest`, or, for `-`, on a temporary file then copied to stdout (nothing half-written reaches a file). */
async function toFileOrStdout(dest: string, write: (file: string) => Promise<unknown>): Promise<void> {
  if (dest !== '-') { await write(dest); return; }
  const dir = await makeScratchDir('stdout');
  const untrack = trackTemp(dir);
  try {
    const file = join(dir, 'out.tar');
    await write(file);
    await pipeline(createReadStream(file), process.stdout, { end: false });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
    untrack();
  }
}

async function writeMetadata(opts: BuildAndExportOptions, tags: readonly Reference[], descriptor: Descriptor, configDigest?: string): Promise<void> {
  if (!opts.metadataFile) return;
  const meta = {
    'containerimage.digest': descriptor.digest,
    'containerimage.descriptor': descriptor,
    ...(configDigest ? { 'containerimage.config.digest': configDigest } : {}),
    'image.name': tags.map(formatReference).join(','),
    tags: tags.map(formatReference),
    'ocimake.familiar-names': tags.map(familiarName),
  };
  await mkdirp(dirname(opts.metadataFile));
  await writeFileAtomic(opts.metadataFile, `${JSON.stringify(meta, null, 2)}\n`);
}

/** Runs `f` with what an attestation of one platform's image is made from, in a scratch directory removed after. */
async function withAttestInput<T>(opts: BuildAndExportOptions, result: BuildResult, descriptor: Descriptor, platform: Platform, startedOn: string, version: string, f: (input: AttestInput) => Promise<T>): Promise<T> {
  const scratch = await makeScratchDir('attest');
  try {
    return await f({
      image: result.image, descriptor, inputs: result.inputs, ...(opts.target ? { target: opts.target } : {}),
      platform: formatPlatform(platform), buildArgs: opts.buildArgs ?? {}, startedOn, version, scratch,
    });
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** Signs the attestations of one image and attaches them: pushed as its referrers (`to` is the refs), or added to the layout `to.dir`. Each is reported. */
async function attest(opts: BuildAndExportOptions, result: BuildResult, descriptor: Descriptor, platform: Platform, to: { refs: readonly Reference[] } | { dir: string; name: string; shown: string }, startedOn: string): Promise<void> {
  const { attestLayout, attestPushed } = await import('../attest/attach.js');
  const attested = await withAttestInput(opts, result, descriptor, platform, startedOn, opts.attest!.version, async (input) => ('refs' in to
    ? (await attestPushed(input, to.refs, opts.remote ?? new Remote(opts), opts.attest!)).map((a) => ({ ref: `${a.repository}@${a.digest}`, predicateType: a.predicateType }))
    : (await attestLayout(input, to.dir, to.name, opts.attest!)).map((a) => ({ ref: `oci:${to.shown}@${a.digest}`, predicateType: a.predicateType }))));
  for (const a of attested) opts.onPush?.({ kind: 'attestation', ref: a.ref, digest: descriptor.digest, predicateType: a.predicateType });
}

/** Each platform image's unsigned attestation manifest (--provenance / --sbom without --sign). */
async function indexAttestations(opts: BuildAndExportOptions, results: readonly BuildResult[], tags: readonly Reference[], startedOn: string): Promise<IndexAttestation[]> {
  const { attestationManifest } = await import('../attest/in-index.js');
  const name = tags[0] ? repositoryName(tags[0]) : 'image';
  const out: IndexAttestation[] = [];
  for (const [k, r] of results.entries()) {
    out.push(await withAttestInput(opts, r, imageArtifacts(r.image).descriptor, opts.platforms![k]!, startedOn, opts.indexAttest!.version, (input) => attestationManifest(input, opts.indexAttest!, name)));
  }
  return out;
}

/** Writes or checks ocimake.lock once every platform has built; provenance then names it by digest. */
async function lockResults(opts: BuildAndExportOptions, results: readonly BuildResult[]): Promise<void> {
  if (!opts.lock) return;
  const digest = await settleLock(opts.lock, results.map((r) => r.pins));
  const rel = relative(resolve(opts.context), opts.lock.path);
  for (const r of results) r.inputs.lock = { path: rel.startsWith('..') ? opts.lock.path : rel, digest };
}

/** A multi-platform build: one build per platform, then an OCI index (as buildx --platform a,b). */
async function buildMulti(opts: BuildAndExportOptions, outputs: readonly Output[], tags: readonly Reference[], annotations: readonly Annotation[], cacheTo: readonly CacheSpec[], startedOn: string): Promise<BuildAndExportResult> {
  for (const o of outputs) {
    if (o.type === 'docker' || o.type === 'tar') {
      throw new OcimakeError('OUTPUT_INVALID', `--output type=${o.type} cannot hold ${opts.indexAttest && opts.platforms!.length === 1 ? 'the image index that --provenance and --sbom need' : 'a multi-platform image'}`, { hint: 'use -o type=oci,dest=DIR|FILE.tar, -o type=local,dest=DIR (a directory per platform) or --push, or build one --platform at a time (without --provenance and --sbom, or with --sign)' });
    }
    if ('dest' in o && o.dest === '-' && o.type !== 'oci') throw new OcimakeError('OUTPUT_INVALID', `--output type=${o.type},dest=- cannot hold a multi-platform image`);
  }
  const results: BuildResult[] = [];
  for (const platform of opts.platforms!) results.push(inlineCache(annotate(await build({ ...opts, platform }), annotations), cacheTo));
  await lockResults(opts, results);
  const images = results.map((r) => r.image);
  const extras: IndexExtras = {
    ...(annotationsFor(annotations, 'index') ? { annotations: annotationsFor(annotations, 'index')! } : {}),
    descriptorAnnotations: images.map((img) => annotationsFor(annotations, 'manifest-descriptor', platformOf(img))),
    ...(opts.indexAttest ? { attestations: await indexAttestations(opts, results, tags, startedOn) } : {}),
  };
  let art = indexArtifacts(images, extras);
  for (const o of outputs) {
    const names = 'name' in o && o.name ? o.name.split(',').map((n) => parseReference(n)) : tags;
    if (o.type === 'oci') {
      const refName = names[0]?.tag ?? (names[0] ? 'latest' : undefined);
      const name = names[0] ? repositoryName(names[0]) : 'image';
      const attestAll = async (dir: string) => { if (opts.attest) for (const [k, r] of results.entries()) await attest(opts, r, imageArtifacts(r.image).descriptor, opts.platforms![k]!, { dir, name, shown: o.dest }, startedOn); };
      if (o.tar) await toFileOrStdout(o.dest, (f) => archiveLayout(f, async (dir) => { art = await writeOciLayoutIndex(dir, images, refName, extras); await attestAll(dir); }));
      else {
        art = await writeOciLayoutIndex(o.dest, images, refName, extras);
        await attestAll(o.dest);
      }
    } else if (o.type === 'local') {
      // As buildx: one directory per platform, named os_arch[_variant].
      await mkdirp(o.dest);
      for (const img of images) {
        const c = img.config;
        await writeRootfs(join(o.dest, [c.os, c.architecture, c.architecture === 'arm64' && c.variant === 'v8' ? undefined : c.variant].filter(Boolean).join('_')), img);
      }
    } else if (o.type === 'registry') {
      art = await pushIndex(images, o.byDigest ? untagged(names) : names, { ...opts, ...(opts.onPush ? { onEvent: opts.onPush } : {}) }, extras);
      // Each platform's manifest is attested, as BuildKit attests each platform.
      if (opts.attest) for (const [k, r] of results.entries()) await attest(opts, r, imageArtifacts(r.image).descriptor, opts.platforms![k]!, { refs: names }, startedOn);
    }
  }
  await exportCache(cacheTo, results.flatMap((r) => r.cacheRecords), images, { remote: opts.remote ?? new Remote(opts), ...(results[0] ? { store: results[0].store } : {}) });
  if (opts.iidFile) {
    await mkdirp(dirname(opts.iidFile));
    await writeFileAtomic(opts.iidFile, art.digest);
  }
  await writeMetadata(opts, tags, art.descriptor);
  const first = results[0]!;
  return { ...first, images, digest: art.digest, descriptor: art.descriptor, tags: [...tags], warnings: results.flatMap((r) => r.warnings) };
}

function platformOf(image: Image): Platform {
  const c = image.config;
  return { os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) };
}

/** The build's image with its manifest annotations (--annotation, --annotation manifest[PLATFORM]:). */
function annotate(result: BuildResult, annotations: readonly Annotation[]): BuildResult {
  const extra = annotationsFor(annotations, 'manifest', platformOf(result.image));
  if (!extra) return result;
  const image: Image = { ...result.image, annotations: { ...(result.image.annotations ?? {}), ...extra } };
  return { ...result, image, artifacts: imageArtifacts(image) };
}

/** --cache-to type=inline: the image's layers carry their cache keys. */
function inlineCache(result: BuildResult, cacheTo: readonly CacheSpec[]): BuildResult {
  if (!cacheTo.some((c) => c.type === 'inline')) return result;
  const image = withInlineKeys(result.image, result.cacheRecords);
  return { ...result, image, artifacts: imageArtifacts(image) };
}
