import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { LayerEntry } from '../../src/layer/entry.js';
import { packTar, USTAR_MAX_SIZE } from '../../src/layer/tar-pack.js';
import { tempDir } from '../helpers/tmp.js';

// packTar writes layers without tar-stream's per-entry streams; its bytes must be the very
// bytes tar-stream's pack gives for the same headers (what ocimake wrote before), or every
// layer digest would change. tar-stream is the oracle here.

async function oracle(entries: readonly LayerEntry[], mtime: number): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const reading = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const e of entries) {
    const base = { name: e.path, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: new Date(mtime * 1000), uname: '', gname: '' };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type === 'directory') pack.entry({ ...base, name: `${e.path}/`, type: 'directory' }, done);
      else if (e.type === 'symlink') pack.entry({ ...base, type: 'symlink', linkname: e.linkname }, done);
      else if (e.type === 'hardlink') pack.entry({ ...base, type: 'link', linkname: e.linkname }, done);
      else if (e.source.kind === 'bytes') pack.entry({ ...base, type: 'file', size: e.size, ...(e.size > USTAR_MAX_SIZE ? { pax: { size: String(e.size) } } : {}) } as tar.Header, e.source.data, done);
      else reject(new Error('oracle takes bytes only'));
    });
  }
  pack.finalize();
  await reading;
  return Buffer.concat(chunks);
}

async function ours(entries: readonly LayerEntry[], mtime: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packTar(entries, mtime)) chunks.push(c);
  return Buffer.concat(chunks);
}

const file = (path: string, data: string | Buffer, mode = 0o644, uid = 0, gid = 0): LayerEntry => {
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return { type: 'file', path, mode, uid, gid, size: b.length, source: { kind: 'bytes', data: b } };
};

describe('packTar', () => {
  it('writes the bytes tar-stream writes: names long and short, ASCII or not, links, modes, owners, sizes', async () => {
    const long = Array.from({ length: 12 }, (_, i) => `segment-${i}`).join('/'); // ~130 bytes: a ustar prefix
    const veryLong = `${'x'.repeat(120)}/${'y'.repeat(120)}`; // no split fits: pax path
    const oneLongName = 'n'.repeat(150); // no slash: pax path
    const entries: LayerEntry[] = [
      { type: 'directory', path: 'app', mode: 0o755, uid: 0, gid: 0 },
      { type: 'directory', path: 'app/zero-mode', mode: 0, uid: 0, gid: 0 },
      file('app/empty', ''),
      file('app/zero-mode-file', 'x', 0),
      file('app/setuid', '#!/bin/sh\n', 0o4755, 1000, 1000),
      file('app/big-ids', 'ids', 0o600, 262_144, 70_000), // past 6 octal digits
      file('app/odd-size', Buffer.alloc(513, 1)),
      file('app/block', Buffer.alloc(512, 2)),
      file(`app/${long}`, 'prefixed'),
      file(`app/${veryLong}`, 'pax'),
      file(`app/${oneLongName}`, 'pax too'),
      file('app/naïve-ünïcode', 'utf-8 name'),
      file('app/日本語/ファイル', 'cjk'),
      { type: 'symlink', path: 'app/link', mode: 0o777, uid: 0, gid: 0, linkname: '../usr/bin/tool' },
      { type: 'symlink', path: 'app/long-target', mode: 0o777, uid: 0, gid: 0, linkname: `/${'t'.repeat(200)}` },
      { type: 'symlink', path: 'app/unicode-target', mode: 0o777, uid: 0, gid: 0, linkname: 'ünï' },
      { type: 'hardlink', path: 'app/hard', mode: 0o644, uid: 0, gid: 0, linkname: 'app/empty' },
      { type: 'hardlink', path: 'app/hard-long', mode: 0o644, uid: 0, gid: 0, linkname: `app/${veryLong}` },
      // A pax record whose length crosses a power of ten (the self-counting length).
      file(`app/${'p'.repeat(89)}/${'q'.repeat(89)}`, 'tens'),
      file(`app/${'r'.repeat(495)}/${'s'.repeat(495)}`, 'hundreds'),
    ];
    for (const mtime of [0, 1_700_000_000]) expect((await ours(entries, mtime)).equals(await oracle(entries, mtime))).toBe(true);
  });

  it('streams large files from disk, hashes them, and refuses one whose size changed', async () => {
    const dir = tempDir();
    const big = Buffer.alloc(300_000, 7);
    writeFileSync(join(dir, 'big'), big);
    const digests = new Map<string, string>();
    const chunks: Buffer[] = [];
    for await (const c of packTar([{ type: 'file', path: 'big', mode: 0o644, uid: 0, gid: 0, size: big.length, source: { kind: 'path', path: join(dir, 'big') } }], 0, (p, d) => digests.set(p, d))) chunks.push(c);
    expect(Buffer.concat(chunks).equals(await oracle([file('big', big)], 0))).toBe(true);
    expect(digests.get('big')).toMatch(/^sha256:/);
    const lying = packTar([{ type: 'file', path: 'big', mode: 0o644, uid: 0, gid: 0, size: big.length + 1, source: { kind: 'path', path: join(dir, 'big') } }], 0);
    await expect((async () => { for await (const _ of lying) { /* drain */ } })()).rejects.toThrow(/size changed/);
  });

  it('reads a file of several MiB into one reused buffer, byte for byte, when the caller copies each chunk', async () => {
    const dir = tempDir();
    const big = Buffer.alloc(3 * 1024 * 1024 + 4321);
    let x = 7;
    for (let i = 0; i < big.length; i++) { x = (x * 1103515245 + 12345) & 0x7fffffff; big[i] = x >> 16; }
    writeFileSync(join(dir, 'big'), big);
    const entry = { type: 'file' as const, path: 'big', mode: 0o644, uid: 0, gid: 0, size: big.length, source: { kind: 'path' as const, path: join(dir, 'big') } };
    const want = await oracle([file('big', big)], 0);
    for (const reuse of [false, true]) {
      const chunks: Buffer[] = [];
      const seen = new Set<ArrayBufferLike>();
      for await (const c of packTar([entry], 0, undefined, reuse)) { chunks.push(Buffer.from(c)); if (c.length > 4096) seen.add(c.buffer); }
      expect(Buffer.concat(chunks).equals(want), `reuse ${reuse}`).toBe(true);
      // Four 1 MiB reads: one buffer when reused, four otherwise.
      expect(seen.size).toBe(reuse ? 1 : 4);
    }
    const grown = packTar([{ ...entry, size: big.length - 1 }], 0, undefined, true);
    await expect((async () => { for await (const _ of grown) { /* drain */ } })()).rejects.toThrow(/size changed/);
  });
});
