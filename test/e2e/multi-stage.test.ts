import { buildChecked } from '../helpers/validate.js';
import { mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { buildAndExport } from '../../src/builder/export.js';
import { main } from '../../src/cli/main.js';
import { readTar } from '../helpers/tar.js';
import { writeTree } from '../helpers/tmp.js';

// Issue 3 end to end on the embedded registry: FROM and COPY --from images in a registry,
// stages and stage indexes; laziness; the cache; corrupt blobs refused.

describe('multi-stage builds against the embedded registry', () => {
  let reg: RunningRegistry;
  const work = mkdtempSync(join(tmpdir(), 'ocimake-ms-'));
  let base: string;
  let baseDigest: string;
  let baseLayers: string[];

  beforeAll(async () => {
    reg = await startRegistry({ root: join(work, 'registry') });
    // A 3-layer "tool" image in the registry: the binary sits in the top layer.
    const ctx = writeTree(join(work, 'tool'), {
      Dockerfile: 'FROM scratch\nCOPY etc/ /etc/\nCOPY lib/ /usr/lib/\nCOPY --chmod=755 etcd /usr/local/bin/etcd\nENV TOOL=1\nWORKDIR /var/lib/tool\nCMD ["/usr/local/bin/etcd"]\n',
      'etc/os-release': 'ID=synthetic\n', 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', 'etc/group': 'root:x:0:\napp:x:1000:\n',
      'lib/libbig.so': 'x'.repeat(200_000), etcd: '#!etcd binary\n',
    });
    base = `${reg.host}/coreos/etcd:v3.3.9`;
    const r = await buildChecked({ context: ctx, tags: [base], push: true, cacheDir: join(work, 'cache-tool') });
    baseDigest = r.digest;
    baseLayers = r.image.layers.map((l) => l.descriptor.digest);
  });
  afterAll(async () => reg?.close());

  it('COPY --from=<image> downloads only the layers down to the one holding the path', async () => {
    const ctx = writeTree(join(work, 'lazy'), { Dockerfile: `FROM scratch\nCOPY --from=${base} /usr/local/bin/etcd /usr/local/bin/\n` });
    const before = new Map(reg.stats.blobGetsByDigest);
    const r = await buildChecked({ context: ctx, cacheDir: join(work, 'cache-lazy') });
    const fetched = [...reg.stats.blobGetsByDigest.entries()].filter(([d, n]) => n > (before.get(d) ?? 0)).map(([d]) => d);
    // Layers: 0 etc/, 1 a 200 kB lib, 2 etcd, 3 the WORKDIR directory. Only 3 and 2 are read.
    expect(fetched.filter((d) => baseLayers.includes(d)).sort()).toEqual([baseLayers[2], baseLayers[3]].sort());
    const entries = await readTar(await r.image.layers[0]!.source.open(r.image.layers[0]!.descriptor.digest));
    expect(entries.find((e) => e.name === 'usr/local/bin/etcd')).toMatchObject({ content: '#!etcd binary\n', mode: 0o755 });
  });

  it('builds FROM the image and COPYs --from a stage and a stage index; base layers pass through', async () => {
    const ctx = writeTree(join(work, 'app'), {
      Dockerfile: [
        'FROM scratch AS builder', 'COPY app-server /go/src/app/app-server',
        'FROM scratch', 'COPY notes.txt /notes.txt',
        `FROM ${base}`,
        'COPY --from=builder /go/src/app/app-server /usr/local/bin/app-server',
        'COPY --from=1 /notes.txt /usr/share/',
        'ENTRYPOINT ["/usr/local/bin/app-server"]',
      ].join('\n'),
      'app-server': { content: 'server', mode: 0o755 }, 'notes.txt': 'n',
    });
    const cacheDir = join(work, 'cache-app');
    const r = await buildChecked({ context: ctx, tags: [`${reg.host}/acme/app:1`], push: true, cacheDir });
    expect(r.image.layers.slice(0, 4).map((l) => l.descriptor.digest)).toEqual(baseLayers);
    // Inherited config; our ENTRYPOINT clears the inherited CMD.
    expect(r.image.config.config).toMatchObject({ WorkingDir: '/var/lib/tool', Entrypoint: ['/usr/local/bin/app-server'], Cmd: null });
    expect(r.image.config.config?.Env).toContain('TOOL=1');
    expect(r.image.config.rootfs.diff_ids).toHaveLength(6);
    expect(r.image.config.history?.filter((h) => !h.empty_layer)).toHaveLength(6);
    const files = new Map<string, { content?: string; mode: number }>();
    for (const l of r.image.layers.slice(4)) for (const e of await readTar(await l.source.open(l.descriptor.digest))) files.set(e.name, e);
    expect(files.get('usr/local/bin/app-server')).toMatchObject({ content: 'server', mode: 0o755 });
    expect(files.get('usr/share/notes.txt')?.content).toBe('n');
    // Parent directories re-emitted in our layers keep the base image's metadata.
    expect(files.get('usr/local/bin/')).toMatchObject({ mode: 0o755, uid: 0 });

    // A second build downloads nothing.
    const gets = reg.stats.blobGets;
    const again = await buildChecked({ context: ctx, tags: [`${reg.host}/acme/app:2`], push: true, cacheDir });
    expect(again.digest).toBe(r.digest);
    expect(reg.stats.blobGets).toBe(gets);
  });

  it('takes FROM oci:DIR:TAG and COPY --from=docker-archive:FILE, with no registry', async () => {
    const src = writeTree(join(work, 'local-src'), { Dockerfile: 'FROM scratch\nCOPY tool /bin/tool\nCMD ["/bin/tool"]\n', tool: { content: 'T', mode: 0o755 } });
    const layout = join(work, 'local-layout');
    const archive = join(work, 'local.tar');
    await buildChecked({ context: src, tags: ['example.com/local/tool:1'], outputs: [{ type: 'oci', dest: layout }, { type: 'docker', dest: archive }], cacheDir: join(work, 'cache-local') });
    const ctx = writeTree(join(work, 'local-use'), { Dockerfile: `FROM oci:${layout}:1\nCOPY --from=docker-archive:${archive} /bin/tool /bin/tool2\n` });
    const r = await buildChecked({ context: ctx, cacheDir: join(work, 'cache-local2') });
    expect(r.image.config.config?.Cmd).toEqual(['/bin/tool']);
    const top = await readTar(await r.image.layers[1]!.source.open(r.image.layers[1]!.descriptor.digest));
    expect(top.find((e) => e.name === 'bin/tool2')).toMatchObject({ content: 'T', mode: 0o755 });
  });

  it('resolves --chown names from the image\'s /etc/passwd and keeps existing WORKDIRs', async () => {
    const ctx = writeTree(join(work, 'chown'), { Dockerfile: `FROM ${base}\nWORKDIR /var/lib/tool\nCOPY --chown=app:app f /home/app/f\n`, f: 'x' });
    const r = await buildChecked({ context: ctx, cacheDir: join(work, 'cache-chown') });
    expect(r.image.layers).toHaveLength(5); // WORKDIR of an existing directory adds no layer
    const entries = await readTar(await r.image.layers[4]!.source.open(r.image.layers[4]!.descriptor.digest));
    expect(entries.find((e) => e.name === 'home/app/f')).toMatchObject({ uid: 1000, gid: 1000 });
    const bad = writeTree(join(work, 'chown-bad'), { Dockerfile: `FROM ${base}\nCOPY --chown=nobody f /f\n`, f: 'x' });
    await expect(buildAndExport({ context: bad, cacheDir: join(work, 'cache-chown') })).rejects.toThrow(/unable to find user "nobody"/);
  });

  it('expands wildcards in COPY --from sources', async () => {
    const ctx = writeTree(join(work, 'glob'), { Dockerfile: `FROM scratch\nCOPY --from=${base} /etc/os-* /etc/pass* /out/\n` });
    const r = await buildChecked({ context: ctx, cacheDir: join(work, 'cache-glob') });
    const names = (await readTar(await r.image.layers[0]!.source.open(r.image.layers[0]!.descriptor.digest))).map((e) => e.name);
    expect(names).toEqual(['out/', 'out/os-release', 'out/passwd']);
    const multi = writeTree(join(work, 'glob2'), { Dockerfile: `FROM scratch\nCOPY --from=${base} /etc/* /single\n` });
    await expect(buildAndExport({ context: multi, cacheDir: join(work, 'cache-glob') })).rejects.toThrow(/destination must be a directory/);
    const none = writeTree(join(work, 'glob3'), { Dockerfile: `FROM scratch\nCOPY --from=${base} /etc/*.none /x/\n` });
    // BuildKit allows a wildcard that matches nothing: the step copies nothing.
    const empty = await buildChecked({ context: none, cacheDir: join(work, 'cache-glob') });
    expect(empty.image.layers).toHaveLength(1);
  });

  it('follows base-image symlinks in the destination, as on merged-/usr images', async () => {
    const baseCtx = writeTree(join(work, 'usrmerge'), { Dockerfile: 'FROM scratch\nCOPY root/ /\n', 'root/usr/bin/sh': 'sh', 'root/bin': { link: 'usr/bin' } });
    const layout = join(work, 'usrmerge-layout');
    await buildChecked({ context: baseCtx, tags: ['x/usrmerge:1'], outputs: [{ type: 'oci', dest: layout }], cacheDir: join(work, 'cache-um') });
    const ctx = writeTree(join(work, 'usrmerge-use'), { Dockerfile: `FROM oci:${layout}:1\nCOPY app /bin/\n`, app: 'a' });
    const r = await buildChecked({ context: ctx, cacheDir: join(work, 'cache-um') });
    const names = (await readTar(await r.image.layers[1]!.source.open(r.image.layers[1]!.descriptor.digest))).map((e) => e.name);
    expect(names).toEqual(['usr/', 'usr/bin/', 'usr/bin/app']);
  });

  it('builds only up to --target', async () => {
    const ctx = writeTree(join(work, 'target'), { Dockerfile: 'FROM scratch AS builder\nCOPY a /a\nFROM scratch\nCOPY --from=builder /a /b\nCOPY missing /x\n', a: 'A' });
    const r = await buildChecked({ context: ctx, target: 'builder', cacheDir: join(work, 'cache-t') });
    expect(r.image.layers).toHaveLength(1);
  });

  it('uses global ARGs in FROM', async () => {
    const ctx = writeTree(join(work, 'args'), { Dockerfile: `ARG BASE=${base}\nFROM \${BASE}\nLABEL from=base\n` });
    const r = await buildChecked({ context: ctx, cacheDir: join(work, 'cache-args') });
    expect(r.image.layers.map((l) => l.descriptor.digest)).toEqual(baseLayers);
  });

  it('pushes with a cross-repository mount instead of uploading base layers', async () => {
    const ctx = writeTree(join(work, 'mount'), { Dockerfile: `FROM ${base}\nLABEL x=y\n` });
    const events: string[] = [];
    await buildChecked({ context: ctx, tags: [`${reg.host}/other/repo:1`], push: true, cacheDir: join(work, 'cache-mount'), onPush: (e) => events.push(e.kind) });
    expect(events.filter((k) => k === 'blob-mounted')).toHaveLength(4);
    expect(events.filter((k) => k === 'blob-uploaded')).toHaveLength(1); // the config only
  });

  it('refuses a corrupted blob, names it, and keeps nothing of it', async () => {
    const victim = baseLayers[0]!;
    const file = join(work, 'registry', 'blobs', 'sha256', victim.slice(7));
    const good = readFileSync(file);
    writeFileSync(file, Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([good[good.length - 1]! ^ 0xff])]));
    try {
      const ctx = writeTree(join(work, 'corrupt'), { Dockerfile: `FROM scratch\nCOPY --from=${base} /etc/os-release /x\n` });
      const cacheDir = join(work, 'cache-corrupt');
      const err = await buildChecked({ context: ctx, cacheDir }).then(() => undefined, (e: Error) => e);
      expect(err?.message).toMatch(new RegExp(`blob ${victim} .* is corrupt`));
      expect(() => statSync(join(cacheDir, 'blobs', 'sha256', victim.slice(7)))).toThrow();
    } finally {
      writeFileSync(file, good);
    }
  });

  it('inspects and extracts from the registry with the CLI', async () => {
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true; });
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['inspect', base, '--cache-dir', join(work, 'cache-cli')])).toBe(0);
      const info = JSON.parse(out) as { digest: string; layers: unknown[]; platforms: string[] };
      expect(info.digest).toBe(baseDigest);
      expect(info.layers).toHaveLength(4);
      const dir = join(work, 'extracted');
      expect(await main(['extract', base, '/usr/local/bin/etcd', '-o', dir, '--cache-dir', join(work, 'cache-cli')])).toBe(0);
      expect(readFileSync(join(dir, 'usr/local/bin/etcd'), 'utf8')).toBe('#!etcd binary\n');
      expect(statSync(join(dir, 'usr/local/bin/etcd')).mode & 0o777).toBe(0o755);
    } finally {
      spy.mockRestore();
      errSpy.mockRestore();
    }
  });
});
