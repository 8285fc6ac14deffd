import { OcimakeError } from '../../errors.js';
import { gzipMembersFrom, readTarBuffer, signatureMember } from './segments.js';
import { verifySignature, type KeyRing } from './signature.js';
import { validVersion, type Op } from './version.js';

/** A dependency or constraint: `name`, `name>=1.2`, `!name`, `so:libc.so`, `/bin/sh`. */
export interface Dep { name: string; op: Op; version: string; conflict: boolean }

/** One package of an APKINDEX (or of /lib/apk/db/installed): every field apk-tools 2 knows. */
export interface ApkPackage {
  /** `C:` — "Q1" + base64 SHA-1 of the package's control member. */
  checksum: string;
  name: string;
  version: string;
  arch: string;
  size: number;
  installedSize: number;
  description: string;
  url: string;
  license: string;
  origin: string;
  maintainer: string;
  buildTime: string;
  commit: string;
  depends: Dep[];
  provides: Dep[];
  installIf: Dep[];
  replaces: string[];
  providerPriority?: number;
  replacesPriority?: number;
  /** Fields this parser keeps as written, for the installed database. */
  raw: [string, string][];
  /** The repository it came from (undefined: installed only). */
  repo?: string;
  /** Its position in the repositories' order, for ties. */
  repoIndex?: number;
}

const OPS = /[<>=~]/;

export function parseDep(s: string): Dep {
  const conflict = s.startsWith('!');
  const body = conflict ? s.slice(1) : s;
  // Most dependencies of an index name no version (so:libc.musl-x86_64.so.1).
  const m = OPS.test(body) ? /^(.+?)(><|>=|<=|=|>|<|~)(.+)$/.exec(body) : null;
  if (!m) return { name: body, op: '', version: '', conflict };
  return { name: m[1]!, op: m[2] as Op, version: m[3]!, conflict };
}

export function formatDep(d: Dep): string {
  return `${d.conflict ? '!' : ''}${d.name}${d.op}${d.version}`;
}

const list = (v: string | undefined) => (v ? v.split(/\s+/).filter((x) => x !== '') : []);
/** The fields kept as written for the installed database. */
const RAW = new Set('CPVASITULomtcDpirkq');

/** A block's fields in order, as `raw` keeps them. */
function rawFields(block: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of block.split('\n')) if (line.length >= 2 && line[1] === ':' && RAW.has(line[0]!)) out.push([line[0]!, line.slice(2)]);
  return out;
}

/** The value of a block's first `K:` line, or undefined. */
function fieldOf(block: string, k: string): string | undefined {
  const at = block.startsWith(`${k}:`) ? 0 : block.indexOf(`\n${k}:`) + 1;
  if (at === 0 && !block.startsWith(`${k}:`)) return undefined;
  const end = block.indexOf('\n', at);
  return block.slice(at + 2, end < 0 ? block.length : end);
}

/**
 * A package of a parsed index. What the solver reads of every package (name, version,
 * provides, install_if, priorities) is parsed at once; the rest is read from the package's
 * block of text when first asked: an index of 20,000 packages, of which a RUN installs a
 * handful, then costs a fifth of what parsing each field of each package did.
 */
class IndexPackage implements ApkPackage {
  repo?: string;
  repoIndex?: number;
  providerPriority?: number;
  replacesPriority?: number;
  #depends?: Dep[];
  #raw?: [string, string][];
  constructor(readonly block: string, public checksum: string, public name: string, public version: string, public arch: string, public size: number, public installedSize: number,
    public provides: Dep[], public installIf: Dep[]) {}

  get description(): string { return fieldOf(this.block, 'T') ?? ''; }
  get url(): string { return fieldOf(this.block, 'U') ?? ''; }
  get license(): string { return fieldOf(this.block, 'L') ?? ''; }
  get origin(): string { return fieldOf(this.block, 'o') ?? ''; }
  get maintainer(): string { return fieldOf(this.block, 'm') ?? ''; }
  get buildTime(): string { return fieldOf(this.block, 't') ?? ''; }
  get commit(): string { return fieldOf(this.block, 'c') ?? ''; }
  get depends(): Dep[] { return (this.#depends ??= list(fieldOf(this.block, 'D')).map(parseDep)); }
  get replaces(): string[] { return list(fieldOf(this.block, 'r')); }
  get raw(): [string, string][] { return (this.#raw ??= rawFields(this.block)); }
}

/** A plain copy of a package with every field read (a spread of an IndexPackage would drop what its getters give). */
export function plainPackage(p: ApkPackage): ApkPackage {
  return {
    checksum: p.checksum, name: p.name, version: p.version, arch: p.arch, size: p.size, installedSize: p.installedSize, description: p.description, url: p.url,
    license: p.license, origin: p.origin, maintainer: p.maintainer, buildTime: p.buildTime, commit: p.commit, depends: p.depends, provides: p.provides,
    installIf: p.installIf, replaces: p.replaces, raw: p.raw,
    ...(p.providerPriority !== undefined ? { providerPriority: p.providerPriority } : {}), ...(p.replacesPriority !== undefined ? { replacesPriority: p.replacesPriority } : {}),
    ...(p.repo !== undefined ? { repo: p.repo } : {}), ...(p.repoIndex !== undefined ? { repoIndex: p.repoIndex } : {}),
  };
}

/**
 * Parses APKINDEX (or installed-database) text into packages; fields of the file list are
 * not kept here. One pass over the lines: a blank line ends a package, the first of a
 * repeated field counts.
 */
export function parseIndexText(text: string, what: string): ApkPackage[] {
  const out: ApkPackage[] = [];
  let at = 0;
  while (at < text.length) {
    // One block: up to the next blank line.
    let end = text.indexOf('\n\n', at);
    if (end < 0) end = text.length;
    if (end > at) {
      const p = packageOf(text.slice(at, end), what);
      if (p) out.push(p);
    }
    at = end + 1;
    while (text.charCodeAt(at) === 10) at++;
  }
  return out;
}

function packageOf(block: string, what: string): ApkPackage | undefined {
  let C: string | undefined, P: string | undefined, V: string | undefined, A: string | undefined, S: string | undefined, I: string | undefined;
  let p: string | undefined, i: string | undefined, k: string | undefined, q: string | undefined;
  let any = false;
  for (let at = 0; at < block.length;) {
    let end = block.indexOf('\n', at);
    if (end < 0) end = block.length;
    if (end - at >= 2 && block.charCodeAt(at + 1) === 58 /* : */) {
      any = true;
      const v = () => block.slice(at + 2, end);
      switch (block[at]) {
        case 'C': C ??= v(); break;
        case 'P': P ??= v(); break;
        case 'V': V ??= v(); break;
        case 'A': A ??= v(); break;
        case 'S': S ??= v(); break;
        case 'I': I ??= v(); break;
        case 'p': p ??= v(); break;
        case 'i': i ??= v(); break;
        case 'k': k ??= v(); break;
        case 'q': q ??= v(); break;
      }
    }
    at = end + 1;
  }
  if (!any) return undefined;
  if (!P || !V) throw new OcimakeError('APK_INVALID', `${what}: a package without P: or V: (${block.slice(0, 40).replace(/\n/g, ' ')}...)`);
  if (!validVersion(V)) throw new OcimakeError('APK_INVALID', `${what}: package ${P} has an invalid version "${V}"`);
  const pkg = new IndexPackage(block, C ?? '', P, V, A ?? '', Number(S ?? 0), Number(I ?? 0), list(p).map(parseDep), list(i).map(parseDep));
  if (k !== undefined) pkg.providerPriority = Number(k);
  if (q !== undefined) pkg.replacesPriority = Number(q);
  return pkg;
}

export interface LoadedIndex { description: string; packages: ApkPackage[]; signer: string | undefined }

/**
 * Reads an APKINDEX.tar.gz: verifies its signature against the keys (unless `untrusted` is
 * allowed), then parses every package.
 */
export async function loadIndex(file: Buffer, keys: KeyRing, what: string, untrusted = false): Promise<LoadedIndex> {
  if (file.length === 0) throw new OcimakeError('APK_INVALID', `${what}: empty`);
  // The signature first, over the compressed bytes after it: nothing it signs is inflated
  // before it verifies (an unsigned 4 MB file inflated past 4 GB before it was refused).
  let signer: string | undefined;
  const sig = await signatureMember(file, what);
  if (sig) {
    const first = sig.entries;
    if (!untrusted || first.some((e) => keys.has(e.name.replace(/^\.SIGN\.RSA\d*\./, '')))) signer = verifySignature(first, file.subarray(sig.member.end), keys, what);
  } else if (!untrusted) {
    verifySignature([], Buffer.alloc(0), keys, what);
  }
  const body = gzipMembersFrom(file, sig?.member.end ?? 0, what);
  const entries = await readTarBuffer(Buffer.concat(body.map((m) => m.data)), what);
  const index = entries.find((e) => e.name === 'APKINDEX');
  if (!index) throw new OcimakeError('APK_INVALID', `${what}: no APKINDEX inside`);
  return { description: entries.find((e) => e.name === 'DESCRIPTION')?.data.toString('utf8').trim() ?? '', packages: parseIndexText(index.data.toString('utf8'), what), signer };
}
