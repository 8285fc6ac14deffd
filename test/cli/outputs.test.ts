import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captured } from '../helpers/capture.js';
import { readTar } from '../helpers/tar.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 14: a local output never merges into old contents; multi-platform builds go to
// every output that can hold them (local: a directory per platform, as buildx; OCI archive).

describe('-o type=local', () => {
  it('writes into a new or empty directory and refuses a non-empty one before building', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'one\n' });
    const work = tempDir();
    const out = join(work, 'rootfs');
    mkdirSync(out);
    const first = await captured(() => main(['build', ctx, '-q', '-o', out]));
    expect(first.value).toBe(0);
    expect(readFileSync(join(out, 'a'), 'utf8')).toBe('one\n');
    writeFileSync(join(ctx, 'a'), 'two\n');
    const again = await captured(() => main(['build', ctx, '-q', '-o', `type=local,dest=${out}`]));
    expect(again.value).toBe(1);
    expect(again.stderr).toMatch(/rootfs is not empty \(1 entry, e\.g\. a\)/);
    expect(again.stderr).toMatch(/hint: .*rm -rf/);
    expect(again.stdout).toBe('');
    expect(readFileSync(join(out, 'a'), 'utf8')).toBe('one\n');
    const file = join(work, 'file');
    writeFileSync(file, '');
    expect((await captured(() => main(['build', ctx, '-q', '-o', file]))).stderr).toMatch(/is a file, and this output writes a directory/);
  });

  it('gets one directory per platform for a multi-platform build, and an OCI archive holds the index', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nARG TARGETARCH\nCOPY a /a-$TARGETARCH\n', a: 'x\n' });
    const work = tempDir();
    const r = await captured(() => main(['build', ctx, '-q', '--platform', 'linux/amd64,linux/arm64', '-t', 'app:1', '-o', `type=local,dest=${join(work, 'out')}`, '-o', `type=oci,dest=${join(work, 'img.tar')}`]));
    expect(r.stderr).toBe('');
    expect(r.value).toBe(0);
    expect(existsSync(join(work, 'out', 'linux_amd64', 'a-amd64'))).toBe(true);
    expect(existsSync(join(work, 'out', 'linux_arm64', 'a-arm64'))).toBe(true);
    const entries = await readTar(readFileSync(join(work, 'img.tar')), false);
    const index = JSON.parse(entries.find((e) => e.name === 'index.json')!.content!) as { manifests: { mediaType: string; digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]!.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests[0]!.digest).toBe(r.stdout.trim());
    expect(index.manifests[0]!.annotations['org.opencontainers.image.ref.name']).toBe('1');
    expect(entries.filter((e) => e.name.startsWith('blobs/sha256/') && e.type === 'file').length).toBe(7);
  });
});

describe('output paths that cannot be written (issue 14: raw EEXIST/EISDIR/ENOTDIR)', () => {
  it('are refused in words before the build, naming the output and what is in the way', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
    const work = writeTree(tempDir(), { afile: 'x', 'adir/keep': 'k' });
    const f = join(work, 'afile');
    const d = join(work, 'adir');
    for (const [args, re] of [
      [['-o', `type=oci,dest=${f}`], /type=oci.*is a file, and this output writes a directory\nhint: give a directory path \(for an archive, write dest=FILE\.tar\)/],
      [['-o', `type=docker,dest=${d}`], /is a directory, and this output writes a file\nhint: give a file path, e.g\. .*adir\/image\.tar/],
      [['-o', `type=tar,dest=${join(f, 'x.tar')}`], /cannot be created, because .*afile is a file/],
      [['--iidfile', d], /--iidfile .*adir: that is a directory/],
    ] as const) {
      const r = await captured(() => main(['build', ctx, '-q', ...args]));
      expect(r.value, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr).not.toMatch(/EEXIST|EISDIR|ENOTDIR/);
    }
  });

  it('a filesystem error that still happens reads as words with the path', async () => {
    const { fsErrorInWords } = await import('../../src/util/fs-paths.js');
    const err = Object.assign(new Error("EEXIST: file already exists, mkdir 'out'"), { code: 'EEXIST', syscall: 'mkdir', path: 'out' });
    expect(fsErrorInWords(err)?.message).toBe('cannot create the directory out: something of that name is in the way');
    expect(fsErrorInWords(Object.assign(new Error('x'), { code: 'ENOSPC', syscall: 'write', path: '/c/blob' }))?.hint).toMatch(/free some space/);
    expect(fsErrorInWords(new Error('plain'))).toBeUndefined();
  });
});
