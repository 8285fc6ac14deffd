import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { BlobStore } from '../../src/store/blob-store.js';
import { writeLayer, defaultMtime } from '../../src/layer/tar-writer.js';
import type { LayerEntry } from '../../src/layer/entry.js';
import { readTar } from '../helpers/tar.js';
import { tempDir } from '../helpers/tmp.js';

const file = (path: string, content: string, mode = 0o644): LayerEntry => ({ type: 'file', path, mode, uid: 0, gid: 0, size: Buffer.byteLength(content), source: { kind: 'bytes', data: Buffer.from(content) } });

describe('writeLayer', () => {
  const store = new BlobStore(tempDir());

  it('computes digest, diffID and size in one pass and they match the stored blob', async () => {
    const l = await writeLayer(store, [file('a.txt', 'hello')]);
    const blob = readFileSync(store.path(l.digest));
    expect(l.size).toBe(blob.length);
    expect(`sha256:${createHash('sha256').update(blob).digest('hex')}`).toBe(l.digest);
    expect(`sha256:${createHash('sha256').update(gunzipSync(blob)).digest('hex')}`).toBe(l.diffId);
  });

  it('gives a byte-identical blob for the same input, whatever the entry order', async () => {
    const a = await writeLayer(store, [file('b', '2'), file('a/x', '1')]);
    const b = await writeLayer(store, [file('a/x', '1'), file('b', '2')]);
    expect(a.digest).toBe(b.digest);
    expect(a.diffId).toBe(b.diffId);
  });

  it('sorts entries, adds parent directories, and zeroes mtime and owners', async () => {
    const l = await writeLayer(store, [file('usr/local/bin/app', 'x', 0o755), file('etc/z', 'z'), file('a-b', 'q')], { mtime: 0 });
    const entries = await readTar(store.open(l.digest));
    expect(entries.map((e) => e.name)).toEqual(['a-b', 'etc/', 'etc/z', 'usr/', 'usr/local/', 'usr/local/bin/', 'usr/local/bin/app']);
    expect(entries.filter((e) => e.type === 'directory').map((e) => e.name)).toEqual(['etc/', 'usr/', 'usr/local/', 'usr/local/bin/']);
    for (const e of entries) {
      expect(e.mtime).toBe(0);
      expect(e.uid).toBe(0);
      expect(e.gid).toBe(0);
    }
    expect(entries.find((e) => e.name === 'usr/')?.mode).toBe(0o755);
    expect(entries.find((e) => e.name === 'usr/local/bin/app')?.mode).toBe(0o755);
  });

  it('keeps children right after their directory even when a sibling shares the prefix', async () => {
    const l = await writeLayer(store, [file('a/b', '1'), file('a-c', '2'), file('a.d', '3')]);
    const names = (await readTar(store.open(l.digest))).map((e) => e.name);
    expect(names).toEqual(['a/', 'a/b', 'a-c', 'a.d']);
  });

  it('uses SOURCE_DATE_EPOCH for mtime when set', async () => {
    expect(defaultMtime({ SOURCE_DATE_EPOCH: '1700000000' })).toBe(1700000000);
    expect(defaultMtime({})).toBe(0);
    expect(defaultMtime({ SOURCE_DATE_EPOCH: 'nope' })).toBe(0);
    const l = await writeLayer(store, [file('f', 'x')], { mtime: 1700000000 });
    const [e] = await readTar(store.open(l.digest));
    expect(e?.mtime).toBe(1700000000);
  });

  it('preserves symlinks and hardlinks', async () => {
    const l = await writeLayer(store, [
      file('bin/busybox', 'BB', 0o755),
      { type: 'symlink', path: 'bin/sh', mode: 0o777, uid: 0, gid: 0, linkname: '/bin/busybox' },
      { type: 'hardlink', path: 'bin/ls', mode: 0o755, uid: 0, gid: 0, linkname: 'bin/busybox' },
    ]);
    const entries = await readTar(store.open(l.digest));
    expect(entries.find((e) => e.name === 'bin/sh')).toMatchObject({ type: 'symlink', linkname: '/bin/busybox' });
    expect(entries.find((e) => e.name === 'bin/ls')).toMatchObject({ type: 'link', linkname: 'bin/busybox' });
  });

  it('writes directory names with a trailing slash, as tar tools expect', async () => {
    const l = await writeLayer(store, [file('d/f', 'x')]);
    const raw = gunzipSync(readFileSync(store.path(l.digest)));
    expect(raw.subarray(0, 2).toString()).toBe('d/');
  });

  it('writes long names through PAX headers', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const l = await writeLayer(store, [file(long, 'x')]);
    const raw = gunzipSync(readFileSync(store.path(l.digest)));
    expect(raw.includes(Buffer.from(`path=${long}\n`))).toBe(true);
    const entries = await readTar(store.open(l.digest));
    expect(entries.map((e) => e.name)).toContain(long);
  });

  it('honours --chown-style owners and keeps permission bits including setuid', async () => {
    const l = await writeLayer(store, [{ ...file('x', 'y', 0o4755), uid: 1000, gid: 1001 } as LayerEntry]);
    const e = (await readTar(store.open(l.digest))).find((x) => x.name === 'x');
    expect(e).toMatchObject({ uid: 1000, gid: 1001, mode: 0o4755 });
  });

  it('refuses paths that climb out of the root', async () => {
    await expect(writeLayer(store, [file('../etc/passwd', 'x')])).rejects.toThrow(/escapes the image root/);
  });
});
