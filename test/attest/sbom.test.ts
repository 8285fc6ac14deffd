import { describe, expect, it } from 'vitest';
import * as CDX from '@cyclonedx/cyclonedx-library';
import { cyclonedx, goModules, npmPackages, parseInstalled, type FoundPackage } from '../../src/attest/sbom.js';

// Issue 10: the SBOM's sources, and the CycloneDX 1.6 schema (validated offline with the
// library's bundled schemas and ajv).

/** Go 1.18+ build info as the linker writes it: header, then varint-prefixed version and modinfo. */
function goBinary(modinfo: string): Buffer {
  const header = Buffer.alloc(32);
  header.write('\xff Go buildinf:', 0, 'latin1');
  header[14] = 8;
  header[15] = 2;
  const varint = (n: number) => { const out: number[] = []; while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; } out.push(n); return Buffer.from(out); };
  const str = (s: string) => Buffer.concat([varint(Buffer.byteLength(s)), Buffer.from(s)]);
  const sentinel = Buffer.alloc(16, 0x30).toString('latin1');
  const wrapped = `${sentinel}${modinfo}\n${sentinel}`;
  return Buffer.concat([Buffer.alloc(4096, 0x90), header, str('go1.22.5'), str(wrapped), Buffer.alloc(1000)]);
}

const validate = (bom: unknown) => new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot6).validate(JSON.stringify(bom));

describe('the SBOM', () => {
  it('reads the modules of a Go executable\'s build info', () => {
    const bin = goBinary('path\texample.com/server\nmod\texample.com/server\t(devel)\t\ndep\tgithub.com/gorilla/mux\tv1.8.1\th1:abc=\ndep\tgolang.org/x/net\tv0.27.0\th1:def=');
    expect(goModules(bin, '/server').map((p) => `${p.name}@${p.version}`)).toEqual(['example.com/server@(devel)', 'github.com/gorilla/mux@v1.8.1', 'golang.org/x/net@v0.27.0']);
    expect(goModules(Buffer.alloc(10_000), '/nothing')).toEqual([]);
  });

  it('reads package-lock.json v3 and v1', () => {
    const v3 = Buffer.from(JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'app' }, 'node_modules/express': { version: '4.19.2', integrity: 'sha512-x' }, 'node_modules/@types/node': { version: '20.1.0' }, 'node_modules/local': { link: true } } }));
    expect(npmPackages(v3, '/app/package-lock.json').map((p) => `${p.name}@${p.version}`)).toEqual(['express@4.19.2', '@types/node@20.1.0']);
    const v1 = Buffer.from(JSON.stringify({ lockfileVersion: 1, dependencies: { lodash: { version: '4.17.21' } } }));
    expect(npmPackages(v1, '/x/package-lock.json').map((p) => p.name)).toEqual(['lodash']);
    expect(npmPackages(Buffer.from('not json'), '/y')).toEqual([]);
  });

  it('is valid CycloneDX 1.6, with a purl for each kind of package', async () => {
    const pkgs: FoundPackage[] = [
      { kind: 'apk', ...parseInstalled('C:Q1abcdefghijklmnopqrstuvwxyz0=\nP:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\n')[0]! },
      { kind: 'golang', name: 'github.com/gorilla/mux', version: 'v1.8.1', foundIn: '/server' },
      { kind: 'npm', name: '@types/node', version: '20.1.0', foundIn: '/app/package-lock.json' },
    ];
    const bom = cyclonedx('registry.example/app', `sha256:${'a'.repeat(64)}`, pkgs) as { components: { purl: string }[] };
    expect(await validate(bom)).toBeNull();
    expect(bom.components.map((c) => c.purl).sort()).toEqual(['pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64', 'pkg:golang/github.com/gorilla/mux@v1.8.1', 'pkg:npm/%40types/node@20.1.0']);
  });
});
