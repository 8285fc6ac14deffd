import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSsh } from '../../src/builder/run-mounts.js';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { parseKeyValues, parseOutput } from '../../src/cli/output-spec.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { captured } from '../helpers/capture.js';
import { layoutOf, rawLayer } from '../helpers/layers.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 14, "wrong results with exit 0": what a buildx user types is either honoured or
// refused with the reason, never accepted and ignored.

describe('flags that used to be accepted and ignored', () => {
  it('refuses output attributes it does not honour, listing what it takes', () => {
    expect(() => parseOutput('type=oci,dest=x,compression=lz4')).toThrow(/compression=lz4 is not supported/);
    expect(() => parseOutput('type=oci,dest=x,oci-mediatypes=false')).toThrow(/oci-mediatypes=false is not supported/);
    expect(() => parseOutput('type=oci,dest=x,foo=bar')).toThrow(/type=oci does not take "foo"/);
    expect(() => parseOutput('type=local,dest=x,name=y')).toThrow(/type=local does not take "name"/);
    expect(parseOutput('type=oci,dest=x,compression=gzip,oci-mediatypes=true')).toMatchObject({ type: 'oci', dest: 'x' });
  });

  it('takes --label NAME as an empty label, as docker does', () => {
    expect(parseKeyValues('--label', ['novalue', 'a=b'], {})).toEqual({ novalue: '', a: 'b' });
  });

  it('refuses a tag that names a digest, an --ssh that names no agent socket and a malformed --secret, and never suggests a publishing flag', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\n' });
    const digestTag = await captured(() => main(['build', ctx, '-t', `r.example/a@sha256:${'a'.repeat(64)}`]));
    expect(digestTag.value).toBe(1);
    expect(digestTag.stderr).toMatch(/a tag cannot name a digest/);
    const keyFile = join(tempDir(), 'id_ed25519');
    writeFileSync(keyFile, 'not a socket');
    const ssh = await captured(() => main(['build', ctx, '--ssh', `default=${keyFile}`]));
    expect(ssh.stderr).toMatch(/is not an agent socket \(a key file\?\)\nhint: load the key into an agent and pass the agent: eval "\$\(ssh-agent\)"; ssh-add /);
    expect(() => parseSsh('default', {})).toThrow(/no agent socket given and SSH_AUTH_SOCK is not set/);
    expect(() => parseSsh('a,b=/x')).toThrow(/is not an id/);
    const secret = await captured(() => main(['build', ctx, '--secret', 'src=/etc/hostname']));
    expect(secret.stderr).toMatch(/--secret src=… needs id= and src=FILE or env=VARIABLE/);
    for (const typo of ['--pul', '--pulll', '--sh']) {
      const r = await captured(() => main(['build', ctx, typo]));
      expect(r.value, typo).not.toBe(0);
      expect(r.stderr, typo).not.toMatch(/--push/);
    }
  });

  it('warns when a build has no output, as buildx does', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\n' });
    const r = await captured(() => main(['build', ctx, '-t', 'name:1', '--progress=quiet', '--cache-dir', join(tempDir(), 'c')]));
    expect(r.value).toBe(0);
    expect(r.stderr).toMatch(/^warning: no output specified/m);
  });
});

describe('platforms', () => {
  it('refuses platform strings that are not linux or not a known architecture or variant', () => {
    expect(() => parsePlatform('linux/bogus')).toThrow(/unknown architecture "bogus"/);
    expect(() => parsePlatform('windows/amd64')).toThrow(/ocimake builds linux images/);
    expect(() => parsePlatform('linux/arm64/v3')).toThrow(/unknown variant "v3"/);
    expect(parsePlatform('linux/aarch64')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  });

  it('gives TARGETPLATFORM linux/arm64 and an empty TARGETVARIANT for arm64, as BuildKit does', async () => {
    const r = await buildFrom('FROM scratch\nARG TARGETPLATFORM\nARG TARGETVARIANT\nARG TARGETARCH\nLABEL p=$TARGETPLATFORM v=[$TARGETVARIANT] a=$TARGETARCH\n', {}, { platform: parsePlatform('linux/arm64') });
    expect(r.image.config.config?.Labels).toEqual({ p: 'linux/arm64', v: '[]', a: 'arm64' });
    const arm = await buildFrom('FROM scratch\nARG TARGETPLATFORM\nARG TARGETVARIANT\nLABEL p=$TARGETPLATFORM v=$TARGETVARIANT\n', {}, { platform: parsePlatform('linux/arm/v7') });
    expect(arm.image.config.config?.Labels).toEqual({ p: 'linux/arm/v7', v: 'v7' });
  });

  it('refuses a base image that is not published for the requested platform', async () => {
    const base = await layoutOf(join(tempDir(), 'amd'), [await rawLayer([{ name: 'f', content: 'x' }])]); // an amd64 image
    await expect(buildFrom(`FROM ${base}\n`, {}, { platform: parsePlatform('linux/arm64') })).rejects.toThrow(/Dockerfile:1: FROM .*the image is linux\/amd64, not linux\/arm64\/v8/);
    const ok = await buildFrom(`FROM ${base}\nCOPY g /g\n`, { g: 'g' }, { platform: parsePlatform('linux/amd64') });
    expect(flatten(ok.layers).get('g')?.content).toBe('g');
  });
});

describe('COPY --from with a name that is neither a stage nor an image', () => {
  it('says no stage has that name, lists the stages and suggests the closest, then the image error', async () => {
    const { noSuchStage } = await import('../../src/builder/build.js');
    const { OcimakeError } = await import('../../src/errors.js');
    const stages = [{ index: 0, name: 'builder' }, { index: 1, name: undefined }] as unknown as Parameters<typeof noSuchStage>[1];
    const e = noSuchStage('buildr', stages, new OcimakeError('NETWORK', 'pulling docker.io/library/buildr:latest: getaddrinfo ENOTFOUND')) as InstanceType<typeof OcimakeError>;
    expect(e.message).toBe('no stage before this one is named "buildr" (stages: builder, 0, 1), and as an image: pulling docker.io/library/buildr:latest: getaddrinfo ENOTFOUND');
    expect(e.hint).toBe('did you mean --from=builder?');
    const ref = new OcimakeError('NETWORK', 'x');
    expect(noSuchStage('ghcr.io/a/b:1', stages, ref)).toBe(ref);
  });
});

describe('registry serve: addresses it cannot use are errors in words (issue 14)', () => {
  it('a port in use, and a port out of range', async () => {
    const { createServer } = await import('node:net');
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    try {
      const inUse = await captured(() => main(['registry', 'serve', '--addr', `127.0.0.1:${port}`]));
      expect(inUse.value).toBe(1);
      expect(inUse.stderr).toContain(`error: cannot listen on 127.0.0.1:${port}: the address is already in use`);
      expect(inUse.stderr).toContain('--addr 127.0.0.1:0 for a free one');
    } finally {
      busy.close();
    }
    const range = await captured(() => main(['registry', 'serve', '--addr', '127.0.0.1:70000']));
    expect(range.stderr).toContain('error: --addr 127.0.0.1:70000: port 70000 is out of range');
  });
});

describe('--iidfile and --metadata-file are checked before the build (issue 14)', () => {
  it('a path in a directory that does not exist fails at once', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\n' });
    const r = await captured(() => main(['build', ctx, '--iidfile', join(ctx, 'no-such-dir', 'iid'), '-o', `type=oci,dest=${join(ctx, 'out')}`]));
    expect(r.value).toBe(1);
    expect(r.stderr).toMatch(/error: --iidfile .*no-such-dir\/iid: the directory .*no-such-dir does not exist/);
    expect(r.stderr).not.toMatch(/built sha256/);
  });
});

describe('inspect of a multi-platform OCI layout (issue 14)', () => {
  it('shows the index the tag names, with its platforms, as a registry would', async () => {
    const { alpineLayout } = await import('../helpers/alpine-images.js');
    const layout = alpineLayout(join(tempDir(), 'alpine'));
    const r = await captured(() => main(['inspect', `oci:${layout.dir}:3`, '--platform', 'linux/arm64']));
    expect(r.value).toBe(0);
    const out = JSON.parse(r.stdout) as { digest: string; platforms: string[]; manifestDigest: string; mediaType: string };
    expect(out.digest).toBe(layout.listDigest);
    expect(out.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(out.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(out.manifestDigest).toBe(layout.manifests.arm64.digest);
  });
});

describe('ocimake version (issue 14)', () => {
  it('prints the version and the Node.js running it', async () => {
    const r = await captured(() => main(['version']));
    expect(r.value).toBe(0);
    expect(r.stdout).toMatch(/^ocimake \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+, linux\/x64\)\n$/);
  });
});

describe('tar outputs: type=tar, and dest=- to stdout (issue 14)', () => {
  it('-o - streams the rootfs as a tar; type=docker,dest=- streams a docker archive; -q then prints no digest', async () => {
    const { vi } = await import('vitest');
    const { readTar } = await import('../helpers/tar.js');
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /etc/a\nCOPY b /b\n', a: 'A', b: 'B' });
    const grab = async (args: string[]) => {
      const chunks: Buffer[] = [];
      const o = vi.spyOn(process.stdout, 'write').mockImplementation(((c: string | Uint8Array, ...rest: unknown[]) => { chunks.push(Buffer.from(c)); const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined; cb?.(); return true; }) as typeof process.stdout.write);
      const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try { return { code: await main(args), out: Buffer.concat(chunks) }; } finally { o.mockRestore(); e.mockRestore(); }
    };
    const rootfs = await grab(['build', ctx, '-o', '-', '-q']);
    expect(rootfs.code).toBe(0);
    const entries = await readTar(rootfs.out, false);
    expect(entries.map((x) => x.name)).toEqual(['b', 'etc/', 'etc/a']);
    expect(entries.find((x) => x.name === 'etc/a')?.content).toBe('A');
    const docker = await grab(['build', ctx, '-t', 'x/y:1', '-o', 'type=docker,dest=-']);
    const names = (await readTar(docker.out, false)).map((x) => x.name);
    expect(names).toContain('manifest.json');
    const file = join(ctx, 'rootfs.tar');
    expect((await grab(['build', ctx, '-o', `type=tar,dest=${file}`])).code).toBe(0);
    const { readFileSync } = await import('node:fs');
    expect((await readTar(readFileSync(file), false)).map((x) => x.name)).toEqual(['b', 'etc/', 'etc/a']);
  });
});
