import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadIndex, parseDep, type ApkPackage } from '../../src/run/apk/index-file.js';
import { solve } from '../../src/run/apk/resolve.js';
import { satisfies } from '../../src/run/apk/version.js';
import { fixture } from '../helpers/alpine-images.js';

// Issue 7: apk's resolver on the real v3.16.3 main index, and on small made-up cases.

const keys = new Map(readdirSync(fixture('apk/keys')).map((f) => [f, readFileSync(join(fixture('apk/keys'), f), 'utf8')]));
let index: ApkPackage[];
beforeAll(async () => { index = (await loadIndex(readFileSync(fixture('apk/APKINDEX-v3.16.3-main-x86_64.tar.gz')), keys, 'idx')).packages; });

/** Every dependency of every chosen package is met by another chosen package. */
function closed(chosen: ApkPackage[]): string[] {
  const missing: string[] = [];
  for (const p of chosen) for (const d of p.depends) {
    if (d.conflict) continue;
    const ok = chosen.some((q) => (q.name === d.name && satisfies(q.version, d.op, d.version)) || q.provides.some((pr) => pr.name === d.name));
    if (!ok) missing.push(`${p.name} → ${d.name}`);
  }
  return missing;
}

const pkg = (name: string, version: string, extra: Partial<ApkPackage> = {}): ApkPackage => ({
  checksum: '', name, version, arch: 'x86_64', size: 0, installedSize: 0, description: '', url: '', license: '', origin: name, maintainer: '', buildTime: '', commit: '',
  depends: [], provides: [], installIf: [], replaces: [], raw: [], repoIndex: 0, ...extra,
});

describe('the apk resolver', () => {
  it('resolves the real dependency closure of curl on v3.16.3, dependencies first', () => {
    const chosen = solve({ world: [parseDep('curl')], installed: [], available: index });
    const names = chosen.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['curl', 'libcurl', 'ca-certificates', 'musl', 'zlib', 'nghttp2-libs', 'brotli-libs']));
    expect(closed(chosen)).toEqual([]);
    expect(names.indexOf('musl')).toBeLessThan(names.indexOf('libcurl'));
    expect(names.indexOf('libcurl')).toBeLessThan(names.indexOf('curl'));
    expect(solve({ world: [parseDep('curl')], installed: [], available: index }).map((p) => p.name)).toEqual(names);
  });

  it('resolves so: and cmd: names, and keeps an installed version unless asked to upgrade', () => {
    const chosen = solve({ world: [parseDep('so:libz.so.1'), parseDep('cmd:strace')], installed: [], available: index });
    expect(chosen.map((p) => p.name)).toEqual(expect.arrayContaining(['zlib', 'strace']));
    const old = pkg('zlib', '1.2.11-r0');
    expect(solve({ world: [parseDep('zlib')], installed: [old], available: [...index, old] }).find((p) => p.name === 'zlib')?.version).toBe('1.2.11-r0');
    expect(solve({ world: [parseDep('zlib')], installed: [old], available: [...index, old], upgrade: 'all' }).find((p) => p.name === 'zlib')?.version).not.toBe('1.2.11-r0');
    expect(solve({ world: [parseDep('zlib>1.2.11-r0')], installed: [old], available: [...index, old] }).find((p) => p.name === 'zlib')?.version).not.toBe('1.2.11-r0');
  });

  it('names the chain that cannot be met', () => {
    expect(() => solve({ world: [parseDep('curl'), parseDep('no-such-thing')], installed: [], available: index })).toThrow(/no-such-thing \(no such package\), required by: world/);
    const a = pkg('a', '1.0-r0', { depends: [parseDep('b>=2')] });
    const b = pkg('b', '1.0-r0');
    expect(() => solve({ world: [parseDep('a')], installed: [], available: [a, b] })).toThrow(/b>=2 \(no version matches >=2\), required by: world → a-1.0-r0/);
    const c = pkg('c', '1.0-r0', { depends: [parseDep('!b')] });
    expect(() => solve({ world: [parseDep('c'), parseDep('b')], installed: [], available: [b, c] })).toThrow(/b-1.0-r0 conflicts with !b/);
  });

  it('virtual names go to the provider with the highest priority; install_if follows', () => {
    const x = pkg('impl-x', '1-r0', { provides: [parseDep('virt')], providerPriority: 10 });
    const y = pkg('impl-y', '1-r0', { provides: [parseDep('virt')], providerPriority: 20 });
    const doc = pkg('impl-y-doc', '1-r0', { installIf: [parseDep('impl-y'), parseDep('docs')] });
    const docs = pkg('docs', '1-r0');
    expect(solve({ world: [parseDep('virt')], installed: [], available: [x, y, doc, docs] }).map((p) => p.name)).toEqual(['impl-y']);
    expect(solve({ world: [parseDep('virt'), parseDep('docs')], installed: [], available: [x, y, doc, docs] }).map((p) => p.name).sort()).toEqual(['docs', 'impl-y', 'impl-y-doc']);
    const z = pkg('impl-z', '1-r0', { provides: [parseDep('virt2')] });
    const w = pkg('impl-w', '1-r0', { provides: [parseDep('virt2')] });
    expect(() => solve({ world: [parseDep('virt2')], installed: [], available: [z, w] })).toThrow(/virtual name provided by impl-w, impl-z/);
  });
});
