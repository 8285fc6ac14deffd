import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 14: --build-context NAME=DIR|docker-image://REF|oci-layout://DIR[:TAG], as buildx.

describe('--build-context', () => {
  it('gives COPY --from and FROM a directory, and replaces a stage of the same name with an OCI layout', async () => {
    const work = tempDir();
    const extra = writeTree(join(work, 'extra'), { 'hello.txt': 'from the named context\n', 'sub/x.txt': 'x' });
    const ctx = writeTree(join(work, 'ctx'), { Dockerfile: 'FROM scratch\nCOPY --from=extra /hello.txt /copied.txt\n' });
    const out1 = join(work, 'out1');
    const a = await captured(() => main(['build', ctx, '-q', '--build-context', `extra=${extra}`, '-o', out1]));
    expect(a.stderr).toBe('');
    expect(readFileSync(join(out1, 'copied.txt'), 'utf8')).toBe('from the named context\n');

    const fromDir = writeTree(join(work, 'ctx2'), { Dockerfile: 'FROM extra\nCOPY a /a\n', a: 'a' });
    const out2 = join(work, 'out2');
    expect((await captured(() => main(['build', fromDir, '-q', '--build-context', `extra=${extra}`, '-o', out2]))).value).toBe(0);
    expect(existsSync(join(out2, 'sub', 'x.txt'))).toBe(true);
    expect(existsSync(join(out2, 'a'))).toBe(true);

    const layout = join(work, 'layout');
    const baseCtx = writeTree(join(work, 'base'), { Dockerfile: 'FROM scratch\nCOPY marker /marker\n', marker: 'layout' });
    expect((await captured(() => main(['build', baseCtx, '-q', '-t', 'base:1', '-o', `type=oci,dest=${layout}`]))).value).toBe(0);
    const staged = writeTree(join(work, 'ctx3'), { Dockerfile: 'FROM scratch AS base\nCOPY a /from-stage\n\nFROM base\nCOPY a /a\n', a: 'a' });
    const out3 = join(work, 'out3');
    const c = await captured(() => main(['build', staged, '-q', '--build-context', `base=oci-layout://${layout}:1`, '-o', out3]));
    expect(c.stderr).toBe('');
    expect(readFileSync(join(out3, 'marker'), 'utf8')).toBe('layout');
    expect(existsSync(join(out3, 'from-stage'))).toBe(false);
  });

  it('refuses what it cannot honour, before building', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\n' });
    for (const [arg, re] of [
      ['src=https://github.com/acme/app.git', /does not fetch contexts from URLs or git\nhint: clone or download it first/],
      ['src=./no/such/dir', /is not a directory/],
      ['justaname', /expected NAME=VALUE/],
      ['t=target:other', /buildx bake/],
      ['img=oci-layout://x@sha256:abc', /by tag, not by digest/],
    ] as const) {
      const r = await captured(() => main(['build', ctx, '--build-context', arg]));
      expect(r.value, arg).toBe(1);
      expect(r.stderr, arg).toMatch(re);
    }
  });
});

describe('--annotation (issue 14)', () => {
  it('annotates the manifest by default, the index and each descriptor on request, per platform when asked', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
    const work = tempDir();
    const single = join(work, 'single');
    const r = await captured(() => main(['build', ctx, '-q', '-t', 'x:1', '--annotation', 'org.opencontainers.image.description=my app', '--annotation', 'manifest:a.b=c=d', '-o', `type=oci,dest=${single}`]));
    expect(r.stderr).toBe('');
    const idx = JSON.parse(readFileSync(join(single, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(readFileSync(join(single, 'blobs', 'sha256', idx.manifests[0]!.digest.slice(7)), 'utf8')) as { annotations: Record<string, string> };
    expect(manifest.annotations).toEqual({ 'org.opencontainers.image.description': 'my app', 'a.b': 'c=d' });
    expect(idx.manifests[0]!.digest).toBe(r.stdout.trim());

    const multi = join(work, 'multi');
    const m = await captured(() => main(['build', ctx, '-q', '-t', 'x:1', '--platform', 'linux/amd64,linux/arm64', '--annotation', 'index:org.opencontainers.image.source=https://example.com/app',
      '--annotation', 'manifest-descriptor[linux/arm64]:arch.note=arm', '--annotation', 'manifest[linux/amd64]:only=amd64', '-o', `type=oci,dest=${multi}`]));
    expect(m.stderr).toBe('');
    const top = JSON.parse(readFileSync(join(multi, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const index = JSON.parse(readFileSync(join(multi, 'blobs', 'sha256', top.manifests[0]!.digest.slice(7)), 'utf8')) as { annotations: Record<string, string>; manifests: { digest: string; platform: { architecture: string }; annotations?: Record<string, string> }[] };
    expect(index.annotations).toEqual({ 'org.opencontainers.image.source': 'https://example.com/app' });
    const byArch = Object.fromEntries(index.manifests.map((d) => [d.platform.architecture, d]));
    expect(byArch.arm64!.annotations).toEqual({ 'arch.note': 'arm' });
    expect(byArch.amd64!.annotations).toBeUndefined();
    const amd = JSON.parse(readFileSync(join(multi, 'blobs', 'sha256', byArch.amd64!.digest.slice(7)), 'utf8')) as { annotations?: Record<string, string> };
    const arm = JSON.parse(readFileSync(join(multi, 'blobs', 'sha256', byArch.arm64!.digest.slice(7)), 'utf8')) as { annotations?: Record<string, string> };
    expect(amd.annotations).toEqual({ only: 'amd64' });
    expect(arm.annotations).toBeUndefined();
  });

  it('refuses malformed ones and index annotations on a single-platform build', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\n' });
    for (const [arg, re] of [['novalue', /expected \[TYPE:\]KEY=VALUE/], ['bogus:k=v', /"bogus" is not an annotation type/], ['index:k=v', /a single-platform build makes no index/], ['index-descriptor:k=v', /not supported/]] as const) {
      const r = await captured(() => main(['build', ctx, '--annotation', arg]));
      expect(r.value, arg).toBe(1);
      expect(r.stderr, arg).toMatch(re);
    }
  });
});

describe('--network', () => {
  it('takes buildx\'s default, none and host for every RUN without its own, and refuses the rest with a hint', async () => {
    const work = tempDir();
    const ctx = writeTree(join(work, 'ctx'), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
    const ok = await captured(() => main(['build', ctx, '-q', '--network', 'none', '-o', join(work, 'out')]));
    expect(ok.value, ok.stderr).toBe(0);
    const bad = await captured(() => main(['build', ctx, '-q', '--network', 'bridge', '-o', join(work, 'out2')]));
    expect(bad.value).not.toBe(0);
    expect(bad.stderr).toMatch(/--network bridge is not known\nhint: use --network default .*none .*host/);
  });
});
