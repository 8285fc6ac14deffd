import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { buildAndExport, type BuildAndExportOptions } from '../../src/builder/export.js';
import { LOCK_NAME, readLock, type LockFile } from '../../src/builder/lock.js';
import { provenance } from '../../src/attest/provenance.js';
import { main } from '../../src/cli/main.js';
import { copyMinirootfs } from '../helpers/alpine-images.js';
import { makeApkKey, serveStatic, testPackages, writeApkRepo, type ApkKey } from '../helpers/apk-repo.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 25 §4: ocimake.lock. --lock pins every image a build opens (by digest, per platform),
// every download and every apk package (name, version, checksum, repository); --locked fails,
// naming what moved, where anything resolves differently; `ocimake lock [--update]`.

let reg: RunningRegistry;
let key: ApkKey;
let files: Awaited<ReturnType<typeof serveStatic>>;
let work: string;
let baseRef: string;

/** Pushes an Alpine base from the minirootfs under `ref`, with `extra` as a marker file so two pushes differ. */
async function pushBase(ref: string, extra: string) {
  const ctx = writeTree(join(work, `base-${extra}`), { Dockerfile: 'FROM scratch\nADD alpine-minirootfs.tar.gz /\nCOPY marker /marker\n', marker: extra });
  copyMinirootfs(ctx);
  return buildAndExport({ context: ctx, tags: [ref], push: true, cacheDir: join(work, 'cache-base') });
}

beforeAll(async () => {
  work = tempDir();
  reg = await startRegistry({ root: join(work, 'registry') });
  key = makeApkKey();
  await writeApkRepo(join(work, 'www', 'main'), testPackages(), key);
  writeFileSync(join(work, 'www', 'tool.txt'), 'tool v1\n');
  files = await serveStatic(join(work, 'www'));
  baseRef = `${reg.host}/library/alpine:3.20`;
  await pushBase(baseRef, 'one');
});
afterAll(async () => { await files?.close(); await reg?.close(); });

function project(name: string, lines: string[] = []) {
  return writeTree(join(work, name), {
    Dockerfile: [`FROM ${baseRef}`, `COPY ${key.name} /etc/apk/keys/`, `RUN echo ${files.url}/main > /etc/apk/repositories`, 'RUN apk add -U footool', `ADD ${files.url}/tool.txt /tool.txt`, ...lines].join('\n') + '\n',
    [key.name]: key.publicPem,
  });
}

const build = (ctx: string, mode: 'write' | 'locked' | undefined, more: Partial<BuildAndExportOptions> = {}) =>
  buildAndExport({ context: ctx, cacheDir: join(work, 'cache'), ...(mode ? { lock: { mode, path: join(ctx, LOCK_NAME), shown: LOCK_NAME } } : {}), ...more });

describe('ocimake.lock', () => {
  it('--lock pins the base image per platform, the download and each apk package with its repository', async () => {
    const ctx = project('pins');
    const r = await build(ctx, 'write');
    const lock = await readLock(join(ctx, LOCK_NAME));
    const baseDigest = r.pins.images[0]!.digest;
    expect(lock.images).toEqual([{ ref: baseRef, platform: 'linux/amd64', digest: baseDigest }]);
    expect(baseDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lock.urls).toEqual([{ url: `${files.url}/tool.txt`, digest: `sha256:${sha256hex('tool v1\n')}` }]);
    // footool pulls in libfoo (newest) and tzdata: every package the RUN installed, sorted.
    expect(lock.apk.map((p) => `${p.name}=${p.version}`)).toEqual(['footool=0.9_rc1-r2', 'libfoo=1.2.0-r0', 'tzdata=2024a-r0']);
    for (const p of lock.apk) {
      expect(p).toMatchObject({ platform: 'linux/amd64', repository: `${files.url}/main` });
      expect(p.checksum).toMatch(/^Q1[A-Za-z0-9+/]{27}=$/);
    }
    // Provenance names the lock by digest.
    expect(r.inputs.lock).toEqual({ path: LOCK_NAME, digest: `sha256:${sha256hex(readFileSync(join(ctx, LOCK_NAME), 'utf8'))}` });
    const prov = provenance({ ...r.inputs, buildArgs: {}, platform: 'linux/amd64', startedOn: 'x', finishedOn: 'y', version: '0' } as never, 'min') as { buildDefinition: { resolvedDependencies: { uri: string; digest: Record<string, string> }[] } };
    expect(prov.buildDefinition.resolvedDependencies).toContainEqual({ uri: `file:${LOCK_NAME}`, digest: { sha256: r.inputs.lock!.digest.slice(7) } });
  });

  it('--locked builds by the lock, warm (RUN answered from the step cache still pins its packages) and cold', async () => {
    const ctx = project('locked');
    await build(ctx, 'write');
    const before = readFileSync(join(ctx, LOCK_NAME));
    const warm = await build(ctx, 'locked');
    expect(warm.pins.apk.map((p) => p.name).sort()).toEqual(['footool', 'libfoo', 'tzdata']);
    await build(ctx, 'locked', { noCache: true });
    expect(readFileSync(join(ctx, LOCK_NAME))).toEqual(before);
  });

  it('--locked fails, naming the image and both digests, when the tag moved; the lock is left as it was', async () => {
    const ref = `${reg.host}/library/moving:1`;
    await pushBase(ref, 'first');
    const ctx = writeTree(join(work, 'moving'), { Dockerfile: `FROM ${ref}\nRUN echo hi > /hi\n` });
    await build(ctx, 'write');
    const lock = readFileSync(join(ctx, LOCK_NAME), 'utf8');
    const old = (JSON.parse(lock) as LockFile).images[0]!.digest;
    const moved = await pushBase(ref, 'second');
    const err = await build(ctx, 'locked').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LOCK_MISMATCH' });
    expect(String((err as Error).message)).toContain(`the image ${ref} (linux/amd64) moved: ${LOCK_NAME} pins ${old}, the registry now gives ${moved.digest}`);
    expect((err as { hint: string }).hint).toContain('ocimake lock --update');
    expect(readFileSync(join(ctx, LOCK_NAME), 'utf8')).toBe(lock);
  });

  it('--locked fails on an apk package the index now gives in another version, before it is fetched', async () => {
    const ctx = project('apk-moved');
    await build(ctx, 'write');
    const lock = JSON.parse(readFileSync(join(ctx, LOCK_NAME), 'utf8')) as LockFile;
    const tz = lock.apk.find((p) => p.name === 'tzdata')!;
    writeFileSync(join(ctx, LOCK_NAME), JSON.stringify({ ...lock, apk: lock.apk.map((p) => (p.name === 'tzdata' ? { ...p, version: '2023c-r0' } : p)) }));
    const fetchedBefore = files.requests.get('/main/x86_64/tzdata-2024a-r0.apk') ?? 0;
    await expect(build(ctx, 'locked', { noCache: true })).rejects.toThrow(`apk tzdata from ${files.url}/main (linux/amd64) moved: ${LOCK_NAME} pins 2023c-r0 (${tz.checksum}), the index now gives 2024a-r0 (${tz.checksum})`);
    expect(files.requests.get('/main/x86_64/tzdata-2024a-r0.apk') ?? 0).toBe(fetchedBefore);
  });

  it('--locked fails on a download whose bytes changed, on what the lock does not pin, and on a stale pin', async () => {
    const ctx = project('url-moved');
    await build(ctx, 'write');
    const good = readFileSync(join(ctx, LOCK_NAME), 'utf8');
    writeFileSync(join(work, 'www', 'tool.txt'), 'tool v2\n');
    try {
      await expect(build(ctx, 'locked', { noCache: true })).rejects.toThrow(`--locked: ${files.url}/tool.txt changed: ${LOCK_NAME} pins sha256:${sha256hex('tool v1\n')}, it now downloads as sha256:${sha256hex('tool v2\n')}`);
    } finally { writeFileSync(join(work, 'www', 'tool.txt'), 'tool v1\n'); }
    // A new package the lock does not name.
    writeFileSync(join(ctx, 'Dockerfile'), `${readFileSync(join(ctx, 'Dockerfile'), 'utf8')}RUN apk add ca-certificates\n`);
    await expect(build(ctx, 'locked')).rejects.toThrow(`--locked: the apk package ca-certificates from ${files.url}/main (linux/amd64) is not in ${LOCK_NAME}`);
    // The download gone from the Dockerfile: the lock pins what the build no longer uses.
    writeFileSync(join(ctx, 'Dockerfile'), readFileSync(join(ctx, 'Dockerfile'), 'utf8').split('\n').filter((l) => !l.startsWith('ADD') && !l.includes('ca-certificates')).join('\n'));
    writeFileSync(join(ctx, LOCK_NAME), good);
    await expect(build(ctx, 'locked')).rejects.toThrow(`--locked: ${LOCK_NAME} pins what this build no longer uses: ${files.url}/tool.txt`);
  });

  it('pins a multi-platform build per platform, and --locked holds for each', async () => {
    const ref = `${reg.host}/library/multi:1`;
    const baseCtx = writeTree(join(work, 'multi-base'), { Dockerfile: 'FROM scratch\nARG TARGETARCH\nCOPY marker /marker\n', marker: 'm' });
    await buildAndExport({ context: baseCtx, tags: [ref], push: true, platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }], cacheDir: join(work, 'cache-base'), buildArgs: {} });
    const ctx = writeTree(join(work, 'multi'), { Dockerfile: `FROM ${ref}\nCOPY marker /again\n`, marker: 'n' });
    const platforms = [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }];
    await build(ctx, 'write', { platforms });
    const lock = await readLock(join(ctx, LOCK_NAME));
    expect(lock.images.map((p) => `${p.ref} ${p.platform}`)).toEqual([`${ref} linux/amd64`, `${ref} linux/arm64`]);
    expect(lock.images[0]!.digest).not.toBe(lock.images[1]!.digest);
    await build(ctx, 'locked', { platforms });
    // One platform alone pins less: the other platform's pin is stale for it.
    await expect(build(ctx, 'locked', { platform: { os: 'linux', architecture: 'arm64' } })).rejects.toThrow(`pins what this build no longer uses: the image ${ref} (linux/amd64)`);
  });

  it('a missing or malformed lock is an error naming the file, with the way to make one', async () => {
    const ctx = project('missing');
    await expect(build(ctx, 'locked')).rejects.toMatchObject({ code: 'LOCK_MISSING', message: expect.stringContaining(`${join(ctx, LOCK_NAME)} does not exist`) });
    writeFileSync(join(ctx, LOCK_NAME), '{"lockVersion": 1, "images": [{"ref": "x"}], "urls": [], "apk": []}');
    await expect(build(ctx, 'locked')).rejects.toMatchObject({ code: 'LOCK_INVALID', message: expect.stringContaining('images.0.platform') });
  });

  it('ocimake lock writes the lock, checks it when it is there, and --update takes what resolves now', async () => {
    const ref = `${reg.host}/library/cli:1`;
    await pushBase(ref, 'cli-one');
    const ctx = writeTree(join(work, 'cli'), { Dockerfile: `FROM ${ref}\n` });
    const cli = async (...args: string[]) => {
      const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      try { return { status: await main([...args, '--progress=quiet', '--cache-dir', join(work, 'cache'), ctx]), err: err.mock.calls.map((c) => String(c[0])).join('') }; } finally { err.mockRestore(); out.mockRestore(); }
    };
    expect((await cli('lock')).status).toBe(0);
    const first = (await readLock(join(ctx, LOCK_NAME))).images[0]!.digest;
    expect((await cli('lock')).status).toBe(0);
    const moved = await pushBase(ref, 'cli-two');
    const checked = await cli('lock');
    expect(checked.status).not.toBe(0);
    expect(checked.err).toContain(`Dockerfile:1: FROM ${ref}: --locked: the image ${ref} (linux/amd64) moved: `);
    expect(checked.err).toContain(`${LOCK_NAME} pins ${first}`);
    expect((await cli('lock', '--update')).status).toBe(0);
    expect((await readLock(join(ctx, LOCK_NAME))).images[0]!.digest).toBe(moved.digest);
    expect((await cli('build', '--locked')).status).toBe(0);
    const both = await cli('build', '--lock', '--locked');
    expect(both.err).toContain('--lock and --locked together');
  });
});

function sha256hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
