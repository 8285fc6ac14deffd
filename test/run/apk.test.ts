import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcimakeError } from '../../src/errors.js';
import { alpineLayout, fixture } from '../helpers/alpine-images.js';
import { makeApkKey, serveStatic, testPackages, writeApkRepo, buildApk, type ApkKey } from '../helpers/apk-repo.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';
import type { ReadEntry } from '../helpers/tar.js';

// Issue 7: `apk` natively, against a real apk v2 repository made at test time and served on
// loopback. The interop suite builds the same Dockerfiles with the real apk-tools.

let base: string;
let key: ApkKey;
let repo: Awaited<ReturnType<typeof serveStatic>>;
let repoDir: string;

beforeAll(async () => {
  base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`;
  key = makeApkKey();
  repoDir = tempDir();
  await writeApkRepo(join(repoDir, 'main'), testPackages(), key);
  // A second repository whose index names a package whose bytes differ from what it serves.
  const other = makeApkKey();
  await writeApkRepo(join(repoDir, 'foreign'), [{ name: 'foreign', version: '1-r0', files: { 'x': 'x' } }], other);
  await writeApkRepo(join(repoDir, 'tampered'), [{ name: 'tampered', version: '1-r0', files: { 'etc/tampered': 'good' } }], key);
  writeFileSync(join(repoDir, 'tampered', 'x86_64', 'tampered-1-r0.apk'), (await buildApk({ name: 'tampered', version: '1-r0', files: { 'etc/tampered': 'evil' } }, key)).file);
  repo = await serveStatic(repoDir);
});
afterAll(async () => { await repo.close(); });

/** A build on the Alpine base whose apk trusts the test key and uses the test repository. */
async function apkBuild(run: string, repoName = 'main') {
  const r = await buildFrom(`FROM ${base}\nCOPY ${key.name} /etc/apk/keys/\nRUN echo ${repo.url}/${repoName} > /etc/apk/repositories\n${run}\n`, { [key.name]: key.publicPem });
  return { ...r, top: flatten(r.layers.slice(3)), last: r.layers.at(-1)! };
}

const text = (e: ReadEntry | undefined) => e?.content ?? '';

describe('RUN apk, natively', () => {
  it('apk add -U tzdata (seed 000): files, world, installed database and the index cache', async () => {
    const r = await apkBuild('RUN apk add -U tzdata\nRUN ln -sf /usr/share/zoneinfo/Asia/Shanghai /etc/localtime && echo Asia/Shanghai > /etc/timezone');
    expect(text(r.top.get('usr/share/zoneinfo/Asia/Shanghai'))).toBe('TZif2 CST-8\n');
    expect(r.top.get('etc/localtime')).toMatchObject({ type: 'symlink', linkname: '/usr/share/zoneinfo/Asia/Shanghai' });
    expect(text(r.top.get('etc/apk/world')).split('\n')).toEqual(['alpine-baselayout', 'alpine-keys', 'apk-tools', 'busybox', 'libc-utils', 'tzdata', '']);
    const installed = text(r.top.get('lib/apk/db/installed'));
    expect(installed).toMatch(/\nP:tzdata\nV:2024a-r0\nA:x86_64\n/);
    expect(installed).toMatch(/F:usr\/share\/zoneinfo\/Asia\nR:Shanghai\nZ:Q1[A-Za-z0-9+/]{27}=\n/);
    expect(installed.startsWith('C:Q1qKcZ+j23xssAXmgQhkOO8dHnbWw=\nP:alpine-baselayout\n')).toBe(true);
    expect([...r.top.keys()].filter((k) => /^var\/cache\/apk\/APKINDEX\.[0-9a-f]{8}\.tar\.gz$/.test(k))).toHaveLength(1);
  });

  it('takes a unique prefix of a long option, as apk does: apk --update add, --no-cach; apk --print-arch', async () => {
    // Before: "unrecognized option --update" (9 real-world RUNs); --print-arch was refused.
    const r = await apkBuild('RUN apk --update add tzdata && apk --print-arch > /arch && apk --no-cach add tzdata');
    expect(text(r.top.get('usr/share/zoneinfo/Asia/Shanghai'))).toBe('TZif2 CST-8\n');
    expect(text(r.top.get('arch'))).toBe('x86_64\n');
    await expect(apkBuild('RUN apk --u add tzdata')).rejects.toThrow(/option '--u' is ambiguous/);
  });

  it('apk --no-cache add resolves so: names and dependencies, newest version, and leaves no index copy', async () => {
    const r = await apkBuild('RUN apk --no-cache add footool');
    expect(r.top.get('usr/lib/libfoo.so.1')).toMatchObject({ type: 'symlink', linkname: 'libfoo.so.1.2.0' });
    expect(r.top.get('usr/bin/footool')).toMatchObject({ mode: 0o755 });
    expect(r.top.get('var/lib/footool')).toMatchObject({ type: 'directory', mode: 0o750 });
    expect(text(r.top.get('usr/share/zoneinfo/UTC'))).toBe('TZif2 UTC\n');
    expect([...r.top.keys()].some((k) => k.startsWith('var/cache/apk/APKINDEX'))).toBe(false);
    const installed = text(r.top.get('lib/apk/db/installed'));
    // apk writes the database sorted by package name.
    expect(installed.indexOf('P:footool')).toBeLessThan(installed.indexOf('P:libfoo'));
    expect(installed).toContain('F:var/lib/footool\nM:0:0:750\n');
  });

  it('apk add --virtual, then apk del removes what it brought (whiteouts in the layer)', async () => {
    const r = await apkBuild("RUN apk add --no-cache --virtual .deps footool=0.9_rc1-r2 'libfoo<1.2'\nRUN apk del --no-cache .deps");
    const added = flatten(r.layers.slice(3, 4));
    expect(added.get('usr/lib/libfoo.so.1')).toMatchObject({ linkname: 'libfoo.so.1.1.0' });
    // As apk-tools writes a virtual package: empty U: and L: lines; its version is the
    // SOURCE_DATE_EPOCH (1970 unset) where apk writes the clock, so the layer is reproducible.
    expect(text(added.get('lib/apk/db/installed'))).toMatch(/\nP:\.deps\nV:19700101\.000000\nA:noarch\nS:0\nI:0\nT:virtual meta package\nU:\nL:\nD:footool=0\.9_rc1-r2 libfoo<1\.2\n/);
    const names = r.last.map((e) => e.name);
    expect(names).toContain('usr/bin/.wh.footool');
    expect(names).toContain('usr/lib/.wh.libfoo.so.1.1.0');
    expect(text(r.top.get('etc/apk/world'))).not.toContain('.deps');
    expect(text(r.top.get('lib/apk/db/installed'))).not.toContain('P:footool');
  });

  it('refuses what apk refuses, naming the cause', async () => {
    const fail = (run: string, repoName?: string) => apkBuild(run, repoName).then(() => undefined, (e: unknown) => e as OcimakeError);
    expect((await fail('RUN apk add --no-cache no-such-package'))?.message).toMatch(/Dockerfile:4: RUN: unable to select packages: no-such-package \(no such package\), required by: world/);
    expect((await fail('RUN apk add --no-cache footool conflicting'))?.message).toMatch(/conflicts with !footool/);
    expect((await fail('RUN apk add --no-cache foreign', 'foreign'))?.message).toMatch(/signed by ocimake-test-[0-9a-f]{8}\.rsa\.pub, which is not in the stage's \/etc\/apk\/keys/);
    expect((await fail('RUN apk add --no-cache tampered', 'tampered'))?.message).toMatch(/tampered-1-r0.apk: .*(does not match the index|bytes, the index says)/);
    expect((await fail('RUN apk add --allow-untrusted --no-cache tzdata'))?.hint).toMatch(/--apk-allow-untrusted/);
    expect((await fail('USER nobody\nRUN apk add --no-cache tzdata'))?.message).toMatch(/exit code: 99/);
  });

  it('apk --no-cache add ca-certificates (seed 003): the trigger is emulated, other scripts are named in a warning', async () => {
    const r = await apkBuild('RUN apk --no-cache add ca-certificates scripted');
    const pem = readFileSync(fixture('certs/test-root-ca.pem'), 'utf8');
    expect(text(r.top.get('etc/ssl/certs/ca-certificates.crt'))).toBe(pem);
    expect(r.top.get('etc/ssl/certs/ocimake_Test_Root_CA.pem')).toMatchObject({ type: 'symlink', linkname: '/usr/share/ca-certificates/mozilla/ocimake_Test_Root_CA.crt' });
    // `openssl x509 -hash` of the certificate (the interop suite asks openssl itself).
    expect(r.top.get('etc/ssl/certs/fd40c7e3.0')).toMatchObject({ type: 'symlink', linkname: 'ocimake_Test_Root_CA.pem' });
    expect(text(r.top.get('lib/apk/db/triggers'))).toMatch(/\nQ1[^ ]+ \/usr\/share\/ca-certificates\/\* \/usr\/local\/share\/ca-certificates\/\* \/etc\/ssl\/certs\/\*\n$/);
    expect(r.warnings.join('\n')).toMatch(/scripts of scripted-1.0-r0 were not run \(.post-install\)/);
    expect(r.warnings.join('\n')).not.toMatch(/ca-certificates/);
    const strict = await buildFrom(`FROM ${base}\nCOPY ${key.name} /etc/apk/keys/\nRUN echo ${repo.url}/main > /etc/apk/repositories\nRUN apk --no-cache add scripted\n`, { [key.name]: key.publicPem }, { apk: { strictScripts: true } }).catch((e: unknown) => e as Error);
    expect((strict as Error).message).toMatch(/Dockerfile:4: RUN: scripts of scripted-1.0-r0 were not run/);
  });

  it('caches the index by URL and revalidates it (304); packages come from the cache the second time', async () => {
    const before = repo.requests.get('/main/x86_64/tzdata-2024a-r0.apk') ?? 0;
    const revalidated = repo.requests.get('304 /main/x86_64/APKINDEX.tar.gz') ?? 0;
    await apkBuild('RUN apk add --no-cache tzdata');
    await apkBuild('RUN apk add --no-cache tzdata');
    expect((repo.requests.get('/main/x86_64/tzdata-2024a-r0.apk') ?? 0) - before).toBeLessThanOrEqual(1);
    expect((repo.requests.get('304 /main/x86_64/APKINDEX.tar.gz') ?? 0) - revalidated).toBeGreaterThanOrEqual(1);
  });

  it('apk upgrade moves a package to the newest version and removes the files the old one had', async () => {
    const r = await apkBuild("RUN apk add --no-cache 'libfoo<1.2' && sed -i 's/^libfoo.*/libfoo/' /etc/apk/world && apk upgrade --no-cache");
    expect(r.top.get('usr/lib/libfoo.so.1')).toMatchObject({ linkname: 'libfoo.so.1.2.0' });
    expect(r.top.has('usr/lib/libfoo.so.1.1.0')).toBe(false);
    expect(text(r.top.get('lib/apk/db/installed'))).toMatch(/P:libfoo\nV:1\.2\.0-r0\n/);
  });

  it('reads repositories signed with .SIGN.RSA256 (SHA-256)', async () => {
    await writeApkRepo(join(repoDir, 'sha256'), [{ name: 'tzdata', version: '2024b-r0', files: { 'usr/share/zoneinfo/UTC': 'TZif2 UTC b\n' } }], key, 'x86_64', 'sha256');
    const r = await apkBuild('RUN apk add --no-cache tzdata', 'sha256');
    expect(text(r.top.get('usr/share/zoneinfo/UTC'))).toBe('TZif2 UTC b\n');
  });
  it('a repository the mirror lacks (404) or that refuses connections is a warning, as in apk-tools: add installs from the rest; update exits with its count', async () => {
    const r = await buildFrom(`FROM ${base}\nCOPY ${key.name} /etc/apk/keys/\nRUN printf '%s\\n' ${repo.url}/main ${repo.url}/community http://127.0.0.1:1/testing > /etc/apk/repositories\nRUN apk add -U tzdata\nRUN apk update > /out 2>&1; echo "status $?" >> /out\n`, { [key.name]: key.publicPem });
    const top = flatten(r.layers.slice(3));
    expect(text(top.get('usr/share/zoneinfo/Asia/Shanghai'))).toBe('TZif2 CST-8\n');
    expect(r.warnings.join('\n')).toContain(`apk: ${repo.url}/community is unavailable (No such file or directory); the other repositories were used`);
    expect(r.warnings.join('\n')).toContain('apk: http://127.0.0.1:1/testing is unavailable (Connection refused)');
    const out = text(top.get('out'));
    expect(out).toContain(`WARNING: updating and opening ${repo.url}/community: No such file or directory`);
    expect(out).toMatch(/4 unavailable, 0 stale; \d+ distinct packages available\nstatus 4\n$/);
  });

  it('a repository host it cannot reach fails with a hint that names --apk-mirror', async () => {
    const err = await buildFrom(`FROM ${base}\nRUN echo http://127.0.0.1:1/main > /etc/apk/repositories\nRUN apk add tzdata\n`).catch((e: unknown) => e) as { hint?: string; message: string };
    expect(err.message).toContain('unable to select packages: tzdata (no such package)');
    expect(err.hint).toBe('a repository could not be fetched: http://127.0.0.1:1/main (Connection refused); check that it is reachable from here, or fetch from a mirror with --apk-mirror URL (or OCIMAKE_APK_MIRROR)');
  });
});

