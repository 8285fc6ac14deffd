import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadIndex, parseIndexText, plainPackage } from '../../src/run/apk/index-file.js';
import { compareVersions, satisfies } from '../../src/run/apk/version.js';
import { fixture } from '../helpers/alpine-images.js';

// Issue 7: real signed APKINDEXes parse and verify against Alpine's keys; versions order as apk's.

const keys = new Map(readdirSync(fixture('apk/keys')).map((f) => [f, readFileSync(join(fixture('apk/keys'), f), 'utf8')]));

describe('APKINDEX', () => {
  it.each([
    ['APKINDEX-v3.16.3-main-x86_64.tar.gz', 4929, 'x86_64', 'alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub'],
    ['APKINDEX-v3.17.3-main-aarch64.tar.gz', 5004, 'aarch64', 'alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub'],
  ])('%s parses (%i packages) and its signature verifies', async (file, count, arch, signer) => {
    const idx = await loadIndex(readFileSync(fixture(`apk/${file}`)), keys, file);
    expect(idx.packages).toHaveLength(count);
    expect(idx.signer).toBe(signer);
    expect(idx.description).toMatch(/^v3\.1[67]/);
    const curl = idx.packages.find((p) => p.name === 'curl')!;
    expect(curl).toMatchObject({ arch, license: 'curl' });
    expect(curl.checksum).toMatch(/^Q1[A-Za-z0-9+/]{27}=$/);
    expect(curl.depends.map((d) => d.name)).toContain('ca-certificates');
    expect(idx.packages.every((p) => p.name && p.version && p.arch === arch)).toBe(true);
  });

  it('reads every field of a block, the first of a repeated one, blank lines runs and a missing trailing newline; a plain copy keeps them', () => {
    const text = 'C:Q1abc=\nP:foo\nV:1.2-r0\nV:9\nA:x86_64\nS:10\nI:20\nT:the foo\nU:https://x/\nL:MIT\no:foo-src\nm:me\nt:1700000000\nc:deadbeef\nk:5\nD:so:libc.so.1 bar>=2 !baz\np:cmd:foo=1.2-r0\ni:bar qux\nr:old\n\n\n\nP:bar\nV:2.0-r1';
    const [foo, bar] = parseIndexText(text, 'test');
    const want = {
      checksum: 'Q1abc=', name: 'foo', version: '1.2-r0', arch: 'x86_64', size: 10, installedSize: 20, description: 'the foo', url: 'https://x/', license: 'MIT',
      origin: 'foo-src', maintainer: 'me', buildTime: '1700000000', commit: 'deadbeef', providerPriority: 5, replaces: ['old'],
      depends: [{ name: 'so:libc.so.1', op: '', version: '', conflict: false }, { name: 'bar', op: '>=', version: '2', conflict: false }, { name: 'baz', op: '', version: '', conflict: true }],
      provides: [{ name: 'cmd:foo', op: '=', version: '1.2-r0', conflict: false }], installIf: [{ name: 'bar', op: '', version: '', conflict: false }, { name: 'qux', op: '', version: '', conflict: false }],
    };
    expect(foo).toMatchObject(want);
    expect(plainPackage(foo!)).toMatchObject(want);
    expect(foo!.raw.map(([k]) => k).join('')).toBe('CPVVASITULomtckDpir');
    expect(bar).toMatchObject({ name: 'bar', version: '2.0-r1', description: '', depends: [] });
    expect(() => parseIndexText('P:x\nV:1..2', 'test')).toThrow(/invalid version "1..2"/);
    expect(() => parseIndexText('V:1\n', 'test')).toThrow(/without P: or V:/);
  });

  it('refuses an index signed by a key the stage does not have, and one whose bytes changed', async () => {
    const file = readFileSync(fixture('apk/APKINDEX-v3.16.3-main-x86_64.tar.gz'));
    await expect(loadIndex(file, new Map(), 'idx')).rejects.toThrow(/signed by alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub, which is not in the stage's \/etc\/apk\/keys/);
    const bad = Buffer.from(file);
    bad[bad.length - 20] = bad[bad.length - 20]! ^ 0xff;
    await expect(loadIndex(bad, keys, 'idx')).rejects.toThrow(/does not verify|corrupt/);
  });
});

describe('apk version order', () => {
  it.each([
    ['1.2.3', '1.2.4', -1], ['1.2.3-r1', '1.2.3-r0', 1], ['1.2.3_rc1-r0', '1.2.3-r0', -1], ['1.2.3_p1', '1.2.3', 1],
    ['1.2.3a', '1.2.3', 1], ['1.2', '1.2.0', -1], ['1.10', '1.9', 1], ['2.0_alpha1', '2.0_beta1', -1], ['2.0_beta2', '2.0_rc1', -1],
    ['1.2.3_git20230424', '1.2.3', 1], ['1.2.3', '1.2.3', 0], ['1.01', '1.1', -1], ['3.0.8-r0', '3.0.10-r0', -1],
  ])('%s vs %s → %i', (a, b, want) => {
    expect(Math.sign(compareVersions(a, b))).toBe(want);
    expect(Math.sign(compareVersions(b, a))).toBe(-want || 0);
  });

  it('constraints', () => {
    expect(satisfies('1.2.3-r0', '>=', '1.2')).toBe(true);
    expect(satisfies('1.2.3-r0', '<', '1.2')).toBe(false);
    expect(satisfies('1.2.3-r0', '~', '1.2')).toBe(true);
    expect(satisfies('1.3.0-r0', '~', '1.2')).toBe(false);
    expect(satisfies('1.2-r0', '=', '1.2-r0')).toBe(true);
  });
});

describe('.apk packages', () => {
  it.each(['strace-5.17-r0.apk', 'curl-7.83.1-r1.apk'])('%s: signature, datahash and checksum against the v3.16.3 index', async (file) => {
    const { openPackage } = await import('../../src/run/apk/package-file.js');
    const idx = await loadIndex(readFileSync(fixture('apk/APKINDEX-v3.16.3-main-x86_64.tar.gz')), keys, 'idx');
    const bytes = readFileSync(fixture(`apk/${file}`));
    const [name, version] = /^(.+?)-(\d.*)\.apk$/.exec(file)!.slice(1) as [string, string];
    const entry = idx.packages.find((p) => p.name === name && p.version === version);
    const pkg = await openPackage(bytes, keys, file, entry ? { checksum: entry.checksum, size: entry.size } : {});
    expect(pkg.info.get('pkgname')).toEqual([name]);
    expect(pkg.signer).toMatch(/^alpine-devel@/);
    if (name === 'strace') expect(entry).toBeDefined();
    expect(pkg.files.some((f) => f.type === 'file' && f.pax['APK-TOOLS.checksum.SHA1'])).toBe(true);
    const bad = Buffer.from(bytes);
    bad[bad.length - 100] = bad[bad.length - 100]! ^ 0xff;
    await expect(openPackage(bad, keys, file)).rejects.toThrow(/datahash|corrupt/);
    if (entry) await expect(openPackage(bytes, keys, file, { checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' })).rejects.toThrow(/does not match the index/);
  });
});
