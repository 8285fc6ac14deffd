import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Image } from '../../src/image/image.js';
import { runStepKey, type RunStepInputs } from '../../src/builder/step-cache.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { makeApkKey, serveStatic, testPackages, writeApkRepo, type ApkKey } from '../helpers/apk-repo.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 25, item 2: a RUN is keyed before it runs, so a rebuild answers it from the cache
// with nothing run and nothing fetched (as buildah --layers and BuildKit do). Each input of
// the key is flipped below and must miss; what must not matter must hit.

type RunInst = RunStepInputs['inst'];
const inst = (o: Partial<RunInst> = {}): RunInst => ({ kind: 'run', line: 3, endLine: 3, original: 'RUN apk add -U tzdata', json: false, args: ['apk add -U tzdata'], heredocs: [], flags: [], ...o } as RunInst);
const image = (layers: string[]): Image => ({
  config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${l.repeat(64)}` as const) } },
  layers: layers.map((l) => ({ descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${l.repeat(64)}`, size: 1 }, diffId: `sha256:${l.repeat(64)}`, source: { open: () => { throw new Error('not read'); } } })),
});
const base = (): RunStepInputs => ({
  inst: inst(), image: image(['a']), vars: new Map([['PATH', '/usr/bin'], ['VERSION', '1']]), workdir: '/', user: '', shell: ['/bin/sh', '-c'],
  escape: '\\', mtime: 0, compression: undefined, settings: '{"platform":"linux/amd64"}',
});

describe('the RUN step key', () => {
  const key = runStepKey(base());
  const flips: [string, (i: RunStepInputs) => RunStepInputs][] = [
    ['the command text', (i) => ({ ...i, inst: inst({ args: ['apk add -U tzdata curl'] }) })],
    ['exec form instead of shell form', (i) => ({ ...i, inst: inst({ json: true, args: ['apk', 'add', '-U', 'tzdata'] }) })],
    ['a heredoc body', (i) => ({ ...i, inst: inst({ heredocs: [{ name: 'EOF', content: 'echo a\n', expand: true, chomp: false }] as unknown as RunInst['heredocs'] }) })],
    ['a cache mount', (i) => ({ ...i, inst: inst({ flags: ['--mount=type=cache,target=/var/cache/apk'] }) })],
    ['the network flag', (i) => ({ ...i, inst: inst({ flags: ['--network=none'] }) })],
    ['the layers below (the parent)', (i) => ({ ...i, image: image(['a', 'b']) })],
    ['a base layer digest', (i) => ({ ...i, image: image(['c']) })],
    ['an ENV or ARG value', (i) => ({ ...i, vars: new Map([['PATH', '/usr/bin'], ['VERSION', '2']]) })],
    ['a new variable', (i) => ({ ...i, vars: new Map([...i.vars, ['CACHE_BUST', '1']]) })],
    ['WORKDIR', (i) => ({ ...i, workdir: '/src' })],
    ['USER', (i) => ({ ...i, user: 'nobody' })],
    ['SHELL', (i) => ({ ...i, shell: ['/bin/ash', '-eo', 'pipefail', '-c'] })],
    ['the escape character', (i) => ({ ...i, escape: '`' })],
    ['SOURCE_DATE_EPOCH (the layer mtime)', (i) => ({ ...i, mtime: 1_700_000_000 })],
    ['the layer compression', (i) => ({ ...i, compression: { algo: 'zstd' } })],
    ['the platform and build settings', (i) => ({ ...i, settings: '{"platform":"linux/arm64"}' })],
  ];
  it.each(flips)('misses when %s changes', (_what, flip) => {
    expect(runStepKey(flip(base()))).not.toBe(key);
  });

  it('hits when only the line number, the original spelling or the order variables were set in changes', () => {
    const b = base();
    expect(runStepKey({ ...b, inst: inst({ line: 40, endLine: 41, original: 'RUN   apk add -U \\\n tzdata' }) })).toBe(key);
    expect(runStepKey({ ...b, vars: new Map([...b.vars].reverse()) })).toBe(key);
  });
});

describe('a rebuild with RUN answered from the step cache', () => {
  let alpine: string;
  let key: ApkKey;
  let repo: Awaited<ReturnType<typeof serveStatic>>;
  let files: Server;
  let filesUrl: string;
  let fileHits = 0;
  beforeAll(async () => {
    alpine = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`;
    key = makeApkKey();
    const dir = tempDir();
    await writeApkRepo(join(dir, 'main'), testPackages(), key);
    repo = await serveStatic(dir);
    files = createServer((_req, res) => { fileHits++; res.writeHead(200, { 'content-length': 5 }).end('tool\n'); });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
    filesUrl = `http://127.0.0.1:${(files.address() as { port: number }).port}`;
  });
  afterAll(async () => { await repo.close().catch(() => {}); if (files.listening) await new Promise<void>((r) => files.close(() => r())); });

  const dockerfile = () => `FROM ${alpine} AS app\nCOPY ${key.name} /etc/apk/keys/\nRUN echo ${repo.url}/main > /etc/apk/repositories\nARG BUST=0\nRUN apk add -U tzdata\nRUN wget -q -O /usr/local/bin/tool ${filesUrl}/tool\n`;
  const requests = () => [...repo.requests.values()].reduce((a, b) => a + b, 0);

  it('the build\'s --network none: native wget and apk fail as they would with no network, RUN --network=host overrides it, and the key tells the two apart', async () => {
    const cacheDir = tempDir();
    const tree = { [key.name]: key.publicPem };
    const head = `FROM ${alpine}\nCOPY ${key.name} /etc/apk/keys/\nRUN echo ${repo.url}/main > /etc/apk/repositories\n`;
    const asked = requests();
    const hits = fileHits;
    // As apk-tools: the repository is unavailable (a warning), so the package is not found; the hint says why.
    await expect(buildFrom(`${head}RUN apk add -U tzdata\n`, tree, { cacheDir, network: 'none' })).rejects.toMatchObject({ message: expect.stringMatching(/unable to select packages: tzdata/), hint: expect.stringMatching(/could not be fetched: .* \(RUN --network=none has no network\)/) });
    await expect(buildFrom(`${head}RUN --network=default wget -q -O /t ${filesUrl}/tool\n`, tree, { cacheDir, network: 'none' })).rejects.toThrow(/RUN --network=none has no network/);
    expect(requests()).toBe(asked);
    expect(fileHits).toBe(hits);
    const host = await buildFrom(`${head}RUN --network=host wget -q -O /t ${filesUrl}/tool\n`, tree, { cacheDir, network: 'none' });
    expect(flatten(host.layers).get('t')?.content).toBe('tool\n');
    expect(fileHits).toBe(hits + 1);
    // A RUN that fetched with the network is not answered from the cache for a build without one: it runs, and fails.
    const df = `${head}RUN wget -q -O /t ${filesUrl}/tool\n`;
    await buildFrom(df, tree, { cacheDir });
    await expect(buildFrom(df, tree, { cacheDir, network: 'none' })).rejects.toThrow(/RUN --network=none has no network/);
  });

  it('runs nothing and fetches nothing, even with the mirror down; a build arg the RUN sees, or --no-cache-filter, runs it again', async () => {
    const cacheDir = tempDir();
    const tree = { [key.name]: key.publicPem };
    const first = await buildFrom(dockerfile(), tree, { cacheDir });
    expect(flatten(first.layers).get('usr/local/bin/tool')?.content).toBe('tool\n');
    const apkAsked = requests();
    const filesAsked = fileHits;
    expect(apkAsked).toBeGreaterThan(0);

    const steps: { index: number; cached?: boolean }[] = [];
    const again = await buildFrom(dockerfile(), tree, { cacheDir, onProgress: (e) => { if (e.kind === 'step-done') steps.push({ index: e.index, ...(e.cached ? { cached: true } : {}) }); } });
    expect(again.artifacts.digest).toBe(first.artifacts.digest);
    expect(requests()).toBe(apkAsked);
    expect(fileHits).toBe(filesAsked);
    // COPY, RUN echo, RUN apk, RUN wget: all CACHED (ARG writes no layer).
    expect(steps.filter((s) => s.cached).map((s) => s.index)).toEqual([0, 1, 3, 4]);
    // The provenance inputs still name what the cached RUN downloaded.
    expect(again.inputs.materials.map((m) => m.uri)).toContain(`${filesUrl}/tool`);

    // A build arg the RUN sees runs it again, and the steps after it.
    await buildFrom(dockerfile(), tree, { cacheDir, buildArgs: { BUST: '1' } });
    expect(requests()).toBeGreaterThan(apkAsked);
    expect(fileHits).toBe(filesAsked + 1);

    // --no-cache-filter STAGE runs that stage again: the same image, made again.
    const before = requests();
    const filtered = await buildFrom(dockerfile(), tree, { cacheDir, noCacheFilter: ['app'] });
    expect(filtered.artifacts.digest).toBe(first.artifacts.digest);
    expect(requests()).toBeGreaterThan(before);
    expect(fileHits).toBe(filesAsked + 2);
    await expect(buildFrom(dockerfile(), tree, { cacheDir, noCacheFilter: ['nope'] })).rejects.toThrow(/--no-cache-filter nope: the Dockerfile has no stage of that name/);

    // The apk mirror and the file server down: a fully cached rebuild needs no network.
    await repo.close();
    await new Promise<void>((r) => files.close(() => r()));
    const offline = await buildFrom(dockerfile(), tree, { cacheDir });
    expect(offline.artifacts.digest).toBe(first.artifacts.digest);
  });
});
