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

export function parseDep(s: string): Dep {
  const conflict = s.startsWith('!');
  const body = conflict ? s.slice(1) : s;
  const m = /^(.+?)(><|>=|<=|=|>|<|~)(.+)$/.exec(body);
  if (!m) return { name: body, op: '', version: '', conflict };
  return { name: m[1]!, op: m[2] as Op, version: m[3]!, conflict };
}

export function formatDep(d: Dep): string {
  return `${d.conflict ? '!' : ''}${d.name}${d.op}${d.version}`;
}

const list = (v: string | undefined) => (v ? v.split(/\s+/).filter((x) => x !== '') : []);

/** Parses APKINDEX (or installed-database) text into packages; fields of the file list are not kept here. */
export function parseIndexText(text: string, what: string): ApkPackage[] {
  const out: ApkPackage[] = [];
  for (const block of text.split(/\n\n+/)) {
    const fields: [string, string][] = [];
    for (const line of block.split('\n')) {
      if (line.length < 2 || line[1] !== ':') continue;
      fields.push([line[0]!, line.slice(2)]);
    }
    if (fields.length === 0) continue;
    const get = (k: string) => fields.find(([f]) => f === k)?.[1];
    const name = get('P');
    const version = get('V');
    if (!name || !version) throw new OcimakeError('APK_INVALID', `${what}: a package without P: or V: (${block.slice(0, 40).replace(/\n/g, ' ')}...)`);
    if (!validVersion(version)) throw new OcimakeError('APK_INVALID', `${what}: package ${name} has an invalid version "${version}"`);
    const k = get('k');
    const q = get('q');
    out.push({
      checksum: get('C') ?? '', name, version, arch: get('A') ?? '', size: Number(get('S') ?? 0), installedSize: Number(get('I') ?? 0),
      description: get('T') ?? '', url: get('U') ?? '', license: get('L') ?? '', origin: get('o') ?? '', maintainer: get('m') ?? '',
      buildTime: get('t') ?? '', commit: get('c') ?? '',
      depends: list(get('D')).map(parseDep), provides: list(get('p')).map(parseDep), installIf: list(get('i')).map(parseDep),
      replaces: list(get('r')), ...(k !== undefined ? { providerPriority: Number(k) } : {}), ...(q !== undefined ? { replacesPriority: Number(q) } : {}),
      raw: fields.filter(([f]) => 'CPVASITULomtcDpirkq'.includes(f)),
    });
  }
  return out;
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
