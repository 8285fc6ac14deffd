import { readFile } from 'node:fs/promises';
import * as CDX from '@cyclonedx/cyclonedx-library';
import { PackageURL } from 'packageurl-js';
import { copyOut } from '../image/copy-out.js';
import type { MergedFs } from '../image/merged-fs.js';

// The SBOM of an image, CycloneDX 1.6 JSON made with @cyclonedx/cyclonedx-library: the apk
// packages of /lib/apk/db/installed, each with its version, architecture, licence, checksum
// and a purl (pkg:apk/alpine/NAME@VERSION?arch=…). Go build info and package-lock.json
// contents are not listed yet (issue 10).

export interface ApkPackage { name: string; version: string; arch?: string; license?: string; origin?: string; checksum?: string }

const DB = '/lib/apk/db/installed';

/** The packages apk's database lists; none when the image has no database. */
export async function apkPackages(fs: MergedFs, scratch: string): Promise<ApkPackage[]> {
  if (!(await fs.lookup(DB))) return [];
  const [db] = await copyOut(fs, [DB], scratch, 'the image');
  const e = db?.entries[0]?.entry;
  if (!e || e.type !== 'file') return [];
  const text = e.source.kind === 'bytes' ? e.source.data.toString('utf8') : await readFile(e.source.path, 'utf8');
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

/** A CycloneDX 1.6 BOM (as a JSON value) of an image and its packages. Deterministic: no random refs or serial. */
export function cyclonedx(imageName: string, digest: string, packages: readonly ApkPackage[]): unknown {
  const bom = new CDX.Models.Bom();
  bom.metadata.component = new CDX.Models.Component(CDX.Enums.ComponentType.Container, imageName, { version: digest, bomRef: `image:${digest}` });
  bom.metadata.tools.components.add(new CDX.Models.Component(CDX.Enums.ComponentType.Application, 'ocimake', { bomRef: 'tool:ocimake' }));
  for (const p of packages) {
    const c = new CDX.Models.Component(CDX.Enums.ComponentType.Library, p.name, { version: p.version, bomRef: `apk:${p.name}@${p.version}` });
    c.purl = new PackageURL('apk', 'alpine', p.name, p.version, p.arch ? { arch: p.arch } : undefined, undefined).toString();
    if (p.license) c.licenses.add(new CDX.Models.NamedLicense(p.license));
    if (p.checksum?.startsWith('Q1')) c.hashes.set(CDX.Enums.HashAlgorithm['SHA-1'], Buffer.from(p.checksum.slice(2), 'base64').toString('hex'));
    bom.components.add(c);
  }
  const serializer = new CDX.Serialize.JsonSerializer(new CDX.Serialize.JSON.Normalize.Factory(CDX.Spec.Spec1dot6));
  return JSON.parse(serializer.serialize(bom, { sortLists: true }));
}
