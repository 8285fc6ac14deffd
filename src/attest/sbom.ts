import { readySource } from '../layer/entry.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as CDX from '@cyclonedx/cyclonedx-library';
import { PackageURL } from 'packageurl-js';
import { copyOut } from '../image/copy-out.js';
import type { MergedFs } from '../image/merged-fs.js';

// The SBOM of an image, CycloneDX 1.6 JSON made with @cyclonedx/cyclonedx-library: the apk
// packages of /lib/apk/db/installed (pkg:apk/alpine/NAME@VERSION?arch=…), the modules in the
// build info of Go executables (pkg:golang/PATH@VERSION), and the packages of every
// package-lock.json outside node_modules (pkg:npm/NAME@VERSION).

export interface ApkPackage { name: string; version: string; arch?: string; license?: string; origin?: string; checksum?: string }

/** A package found in the image: apk, a Go module, or an npm package; `foundIn` is where. */
export type FoundPackage =
  | ({ kind: 'apk' } & ApkPackage)
  | { kind: 'golang'; name: string; version: string; foundIn: string; sum?: string }
  | { kind: 'npm'; name: string; version: string; foundIn: string; integrity?: string };

/** Executables larger than this are not searched for Go build info. */
const GO_MAX = 256 << 20;
const LOCK_MAX = 32 << 20;

const DB = '/lib/apk/db/installed';

/** The packages apk's database lists; none when the image has no database. */
export async function apkPackages(fs: MergedFs, scratch: string): Promise<ApkPackage[]> {
  if (!(await fs.lookup(DB))) return [];
  const [db] = await copyOut(fs, [DB], scratch, 'the image');
  const e = db?.entries[0]?.entry;
  if (!e || e.type !== 'file') return [];
  const source = await readySource(e.source);
  const text = source.kind === 'bytes' ? source.data.toString('utf8') : await readFile(source.path, 'utf8');
  return parseInstalled(text);
}

/** Parses apk's `installed` database: blank-line separated records of `K:value` lines. */
export function parseInstalled(text: string): ApkPackage[] {
  const out: ApkPackage[] = [];
  for (const record of text.split(/\n\s*\n/)) {
    const f = new Map<string, string>();
    for (const line of record.split('\n')) if (line[1] === ':' && !f.has(line[0]!)) f.set(line[0]!, line.slice(2));
    const name = f.get('P');
    const version = f.get('V');
    if (!name || !version) continue;
    out.push({ name, version, ...(f.get('A') ? { arch: f.get('A')! } : {}), ...(f.get('L') ? { license: f.get('L')! } : {}), ...(f.get('o') ? { origin: f.get('o')! } : {}), ...(f.get('C') ? { checksum: f.get('C')! } : {}) });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every package the image shows: apk's database, Go executables' build info, package-lock.json files. */
export async function imagePackages(fs: MergedFs, scratch: string): Promise<FoundPackage[]> {
  const out: FoundPackage[] = (await apkPackages(fs, join(scratch, 'apk'))).map((p) => ({ kind: 'apk' as const, ...p }));
  const all = await fs.descendants('');
  const wanted = all.filter((e) => e.entry.type === 'file' && (
    (e.entry.path.endsWith('/package-lock.json') || e.entry.path === 'package-lock.json') ? !e.entry.path.includes('node_modules/') && e.entry.size <= LOCK_MAX
      : (e.entry.mode & 0o111) !== 0 && e.entry.size >= 4096 && e.entry.size <= GO_MAX));
  if (wanted.length === 0) return out;
  const spooled = await fs.spoolSources(wanted, join(scratch, 'files'), 0);
  for (const e of wanted) {
    const v = spooled.get(e.layer)?.get(e.entry.path);
    if (!v) continue;
    const data = typeof v === 'string' ? await readFile(v) : v;
    const where = `/${e.entry.path}`;
    if (where.endsWith('/package-lock.json')) out.push(...npmPackages(data, where));
    else out.push(...goModules(data, where));
  }
  return out;
}

/** The packages of a package-lock.json (lockfile v2/v3 `packages`, or v1 `dependencies`). */
export function npmPackages(data: Buffer, foundIn: string): FoundPackage[] {
  let j: { packages?: Record<string, { version?: string; integrity?: string; name?: string; link?: boolean }>; dependencies?: Record<string, { version?: string; integrity?: string }> };
  try { j = JSON.parse(data.toString('utf8')); } catch { return []; }
  const out: FoundPackage[] = [];
  if (j.packages) {
    for (const [path, p] of Object.entries(j.packages)) {
      if (path === '' || !p.version || p.link) continue;
      const name = p.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
      out.push({ kind: 'npm', name, version: p.version, foundIn, ...(p.integrity ? { integrity: p.integrity } : {}) });
    }
  } else if (j.dependencies) {
    for (const [name, p] of Object.entries(j.dependencies)) if (p.version) out.push({ kind: 'npm', name, version: p.version, foundIn, ...(p.integrity ? { integrity: p.integrity } : {}) });
  }
  return out;
}

const GO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');

/**
 * The modules of a Go executable's build info (Go 1.18+ layout: after the 16-byte header
 * `\xff Go buildinf:` + pointer size + flags, two varint-prefixed strings, the Go version and
 * the module info, whose `mod` and `dep` lines name the main module and the dependencies).
 */
export function goModules(data: Buffer, foundIn: string): FoundPackage[] {
  for (let at = data.indexOf(GO_MAGIC); at !== -1; at = data.indexOf(GO_MAGIC, at + 1)) {
    if (at % 16 !== 0) continue;
    const flags = data[at + 15]!;
    if ((flags & 2) === 0) continue; // older layouts point into the data segment: not read
    let off = at + 32;
    const str = (): string | undefined => {
      let n = 0;
      let shift = 0;
      for (;;) {
        if (off >= data.length) return undefined;
        const b = data[off++]!;
        n |= (b & 0x7f) << shift;
        if ((b & 0x80) === 0) break;
        shift += 7;
        if (shift > 28) return undefined;
      }
      if (off + n > data.length) return undefined;
      const s = data.toString('utf8', off, off + n);
      off += n;
      return s;
    };
    const goVersion = str();
    let mod = str();
    if (goVersion === undefined || mod === undefined) continue;
    if (mod.length >= 33 && mod.charCodeAt(mod.length - 17) === 0x0a) mod = mod.slice(16, -16); // sentinel-wrapped
    const out: FoundPackage[] = [];
    for (const line of mod.split('\n')) {
      const [kind, path, version, sum] = line.split('\t');
      if ((kind === 'mod' || kind === 'dep') && path && version) out.push({ kind: 'golang', name: path, version, foundIn, ...(sum ? { sum } : {}) });
    }
    return out;
  }
  return [];
}

/** A CycloneDX 1.6 BOM (as a JSON value) of an image and its packages. Deterministic: no random refs or serial. */
export function cyclonedx(imageName: string, digest: string, packages: readonly FoundPackage[]): unknown {
  const bom = new CDX.Models.Bom();
  bom.metadata.component = new CDX.Models.Component(CDX.Enums.ComponentType.Container, imageName, { version: digest, bomRef: `image:${digest}` });
  bom.metadata.tools.components.add(new CDX.Models.Component(CDX.Enums.ComponentType.Application, 'ocimake', { bomRef: 'tool:ocimake' }));
  const seen = new Set<string>();
  for (const p of packages) {
    const purl = p.kind === 'apk' ? new PackageURL('apk', 'alpine', p.name, p.version, p.arch ? { arch: p.arch } : undefined, undefined)
      : p.kind === 'golang' ? new PackageURL('golang', p.name.includes('/') ? p.name.slice(0, p.name.lastIndexOf('/')) : undefined, p.name.includes('/') ? p.name.slice(p.name.lastIndexOf('/') + 1) : p.name, p.version, undefined, undefined)
        : new PackageURL('npm', p.name.startsWith('@') ? p.name.slice(0, p.name.indexOf('/')) : undefined, p.name.startsWith('@') ? p.name.slice(p.name.indexOf('/') + 1) : p.name, p.version, undefined, undefined);
    const ref = `${purl.toString()}${p.kind === 'apk' ? '' : `#${p.foundIn}`}`;
    if (seen.has(ref)) continue;
    seen.add(ref);
    const c = new CDX.Models.Component(CDX.Enums.ComponentType.Library, p.name, { version: p.version, bomRef: ref });
    c.purl = purl.toString();
    if (p.kind === 'apk') {
      if (p.license) c.licenses.add(new CDX.Models.NamedLicense(p.license));
      if (p.checksum?.startsWith('Q1')) c.hashes.set(CDX.Enums.HashAlgorithm['SHA-1'], Buffer.from(p.checksum.slice(2), 'base64').toString('hex'));
    } else {
      c.properties.add(new CDX.Models.Property('ocimake:found-in', p.foundIn));
    }
    bom.components.add(c);
  }
  const serializer = new CDX.Serialize.JsonSerializer(new CDX.Serialize.JSON.Normalize.Factory(CDX.Spec.Spec1dot6));
  return JSON.parse(serializer.serialize(bom, { sortLists: true }));
}
