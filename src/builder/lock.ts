import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { OcimakeError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import { writeFileAtomic } from '../util/atomic-file.js';

// ocimake.lock: every input of a build that a registry, a URL or an apk index could change
// under it, pinned. `build --lock` writes it next to the Dockerfile; `build --locked` builds
// with it and fails, naming what moved, where anything resolves differently (cargo's and npm
// ci's model). Images are pinned per platform by the digest the build opened (the platform's
// manifest), URLs by the digest of their bytes, apk packages by name, version and checksum
// with the repository whose index named them (as /etc/apk/repositories writes it, not a
// mirror that stood in for it). A RUN that was executed (not interpreted) ran the image's own
// apk: what it installed is pinned by nothing but the image digests below it.

export const LOCK_NAME = 'ocimake.lock';
const LOCK_VERSION = 1;

const Digest = z.string().regex(/^[a-z0-9]+:[a-f0-9]{32,128}$/);
const ImagePin = z.object({ ref: z.string(), platform: z.string(), digest: Digest }).strict();
const UrlPin = z.object({ url: z.string(), digest: Digest }).strict();
export const ApkPinSchema = z.object({ platform: z.string(), repository: z.string(), name: z.string(), version: z.string(), checksum: z.string() }).strict();
const LockFile = z.object({ lockVersion: z.literal(LOCK_VERSION), images: z.array(ImagePin), urls: z.array(UrlPin), apk: z.array(ApkPinSchema) }).strict();

export type ImagePin = z.infer<typeof ImagePin>;
export type UrlPin = z.infer<typeof UrlPin>;
export type ApkPin = z.infer<typeof ApkPinSchema>;
/** An apk package as a RUN installs it (the build adds the platform). */
export type ApkInstall = Omit<ApkPin, 'platform'>;
/** What one build resolved: the lock's content before it is sorted. */
export interface Pins { images: ImagePin[]; urls: UrlPin[]; apk: ApkPin[] }
export type LockFile = z.infer<typeof LockFile>;

/** Where the lock of a Dockerfile lives: beside it (beside the context for `-f -`). */
export function lockPath(dockerfile: string | undefined, context: string): string {
  return join(dockerfile ? dirname(dockerfile) : context, LOCK_NAME);
}

/** The lock of several builds (one per platform): sorted, each pin once. */
export function lockOf(all: readonly Pins[]): LockFile {
  const uniq = <T>(xs: T[], key: (x: T) => string): T[] => [...new Map(xs.map((x) => [key(x), x])).values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return {
    lockVersion: LOCK_VERSION,
    images: uniq(all.flatMap((p) => p.images), (p) => `${p.ref}\0${p.platform}\0${p.digest}`),
    urls: uniq(all.flatMap((p) => p.urls), (p) => `${p.url}\0${p.digest}`),
    apk: uniq(all.flatMap((p) => p.apk), (p) => `${p.platform}\0${p.repository}\0${p.name}\0${p.version}\0${p.checksum}`),
  };
}

/** The lock's bytes: JSON, two-space indented, a newline at the end (diffs well in review). */
export function lockBytes(lock: LockFile): Buffer {
  return Buffer.from(`${JSON.stringify(lock, null, 2)}\n`);
}

export function lockDigest(lock: LockFile): string {
  return sha256(lockBytes(lock));
}

/** Writes the lock atomically: a build that fails leaves the old one whole. */
export async function writeLock(path: string, lock: LockFile): Promise<void> {
  await writeFileAtomic(path, lockBytes(lock));
}

/** Reads a lock; a missing or malformed one is an error naming the file. */
export async function readLock(path: string): Promise<LockFile> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new OcimakeError('LOCK_MISSING', `--locked: ${path} does not exist`, { hint: 'write it first with "ocimake build --lock" (or "ocimake lock"), and commit it next to the Dockerfile' });
    throw err;
  }
  let json: unknown;
  try { json = JSON.parse(text); } catch (err) {
    throw new OcimakeError('LOCK_INVALID', `${path}: not JSON (${(err as Error).message})`, { hint: 'write it again with "ocimake lock --update"' });
  }
  const r = LockFile.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new OcimakeError('LOCK_INVALID', `${path}: ${issue.path.join('.') || 'the file'}: ${issue.message}`, { hint: `a lock of version ${LOCK_VERSION} is made by this ocimake; write it again with "ocimake lock --update"` });
  }
  return r.data;
}

const UPDATE = 'run "ocimake lock --update" to take what resolves now (and review the lock\'s diff)';

/**
 * --locked: each pin the build resolves is checked against the lock as it is resolved, before
 * it is used (an image before its layers, a package before its download), and the build fails
 * at the first one that moved or that the lock does not name.
 */
export class LockGuard {
  readonly #images = new Map<string, string>();
  readonly #urls = new Map<string, string>();
  readonly #apk = new Map<string, ApkPin>();

  constructor(lock: LockFile, readonly file: string) {
    for (const p of lock.images) this.#images.set(`${p.ref}\0${p.platform}`, p.digest);
    for (const p of lock.urls) this.#urls.set(p.url, p.digest);
    for (const p of lock.apk) this.#apk.set(`${p.platform}\0${p.repository}\0${p.name}`, p);
  }

  image(p: ImagePin): void {
    const want = this.#images.get(`${p.ref}\0${p.platform}`);
    if (want === undefined) throw this.#missing(`the image ${p.ref} (${p.platform})`);
    if (want !== p.digest) {
      throw new OcimakeError('LOCK_MISMATCH', `--locked: the image ${p.ref} (${p.platform}) moved: ${this.file} pins ${want}, the registry now gives ${p.digest}`, { hint: `build what the lock pins by naming it ${p.ref.replace(/(@sha256:[0-9a-f]+)?$/, '')}@${want}, or ${UPDATE}` });
    }
  }

  url(p: UrlPin): void {
    const want = this.#urls.get(p.url);
    if (want === undefined) throw this.#missing(`the download ${p.url}`);
    if (want !== p.digest) throw new OcimakeError('LOCK_MISMATCH', `--locked: ${p.url} changed: ${this.file} pins ${want}, it now downloads as ${p.digest}`, { hint: `pin it with ADD --checksum=${want}, or ${UPDATE}` });
  }

  apk(p: ApkPin): void {
    const want = this.#apk.get(`${p.platform}\0${p.repository}\0${p.name}`);
    if (want === undefined) throw this.#missing(`the apk package ${p.name} from ${p.repository} (${p.platform})`);
    if (want.version !== p.version || want.checksum !== p.checksum) {
      throw new OcimakeError('LOCK_MISMATCH', `--locked: apk ${p.name} from ${p.repository} (${p.platform}) moved: ${this.file} pins ${want.version} (${want.checksum}), the index now gives ${p.version} (${p.checksum})`, { hint: `keep the old one with apk add ${p.name}=${want.version} where the repository still has it, or ${UPDATE}` });
    }
  }

  #missing(what: string): OcimakeError {
    return new OcimakeError('LOCK_MISMATCH', `--locked: ${what} is not in ${this.file}`, { hint: `the build opens something the lock does not pin (the Dockerfile, a build arg or the platform changed); ${UPDATE}` });
  }
}

/** What a build does with the lock: write it (--lock, `ocimake lock --update`), or build by it (--locked, `ocimake lock`). */
export interface LockOption { mode: 'write' | 'locked'; path: string; /** How messages name it (relative to the working directory). */ shown: string }

/** --locked: the guard the build checks each pin with. */
export async function lockGuard(opt: LockOption | undefined): Promise<LockGuard | undefined> {
  if (opt?.mode !== 'locked') return undefined;
  return new LockGuard(await readLock(opt.path), opt.shown);
}

/**
 * After the builds (one per platform) succeeded: writes the lock (--lock), or checks that the
 * lock pins nothing the build no longer opens (--locked: a stale pin fails, as cargo --locked
 * fails where the lock would change). Returns the lock's digest, which provenance records.
 */
export async function settleLock(opt: LockOption, all: readonly Pins[]): Promise<string> {
  const lock = lockOf(all);
  if (opt.mode === 'write') {
    await writeLock(opt.path, lock);
    return lockDigest(lock);
  }
  const had = await readLock(opt.path);
  const stale = [
    ...had.images.filter((p) => !lock.images.some((q) => q.ref === p.ref && q.platform === p.platform)).map((p) => `the image ${p.ref} (${p.platform})`),
    ...had.urls.filter((p) => !lock.urls.some((q) => q.url === p.url)).map((p) => p.url),
    ...had.apk.filter((p) => !lock.apk.some((q) => q.platform === p.platform && q.repository === p.repository && q.name === p.name)).map((p) => `apk ${p.name} from ${p.repository} (${p.platform})`),
  ];
  if (stale.length > 0) {
    throw new OcimakeError('LOCK_MISMATCH', `--locked: ${opt.shown} pins what this build no longer uses: ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ` and ${stale.length - 5} more` : ''}`, { hint: UPDATE });
  }
  return lockDigest(had);
}
