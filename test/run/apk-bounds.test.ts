import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { loadIndex } from '../../src/run/apk/index-file.js';
import { openPackage } from '../../src/run/apk/package-file.js';
import { fixture } from '../helpers/alpine-images.js';
import { buildApk, makeApkKey, signIndexBody, tarOfFiles } from '../helpers/apk-repo.js';

// Issue 27 §1: what a mirror serves is checked before it is inflated. An index's signature
// member is read first and verified over the compressed bytes after it; a package's control
// member is checked against the index and its signature, and its data against datahash, all
// before the data is inflated; the members and what they inflate to are bounded. Before, every
// member was inflated first (up to 1 GiB each, any number of them): a 4 MB unsigned file took
// RSS past 4 GB.

const keys = new Map(readdirSync(fixture('apk/keys')).map((f) => [f, readFileSync(join(fixture('apk/keys'), f), 'utf8')]));
const saved = process.env.OCIMAKE_MAX_RUN_FILE_SIZE;
afterEach(() => { if (saved === undefined) delete process.env.OCIMAKE_MAX_RUN_FILE_SIZE; else process.env.OCIMAKE_MAX_RUN_FILE_SIZE = saved; });

/** Where the first gzip member of a real index ends: found by the member's own trailer, for the test. */
function afterSignature(file: Buffer): number {
  for (let i = 10; i < file.length - 2; i++) if (file[i] === 0x1f && file[i + 1] === 0x8b && file[i + 2] === 8) return i;
  throw new Error('no second member');
}

describe('apk files are checked before they are inflated', () => {
  it('an index whose signed bytes changed is refused by its signature, before the body is inflated', async () => {
    const file = readFileSync(fixture('apk/APKINDEX-v3.16.3-main-x86_64.tar.gz'));
    const at = afterSignature(file);
    // The body replaced by bytes that are not gzip at all: the old order said "corrupt gzip".
    const bad = Buffer.concat([file.subarray(0, at), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(4096, 0xff)]);
    await expect(loadIndex(bad, keys, 'idx')).rejects.toThrow(/does not verify/);
  });

  it('an unsigned index is refused without reading its body', async () => {
    // One member of 64 MiB of zeros, 64 KiB compressed: refused as unsigned, not inflated.
    const bomb = gzipSync(Buffer.alloc(64 << 20));
    await expect(loadIndex(bomb, keys, 'idx')).rejects.toThrow(/not signed|unsigned|no signature/i);
  });

  it('a signed index may not have more than 64 members or inflate past runFileSize', async () => {
    const key = makeApkKey();
    const ring = new Map([[key.name, key.publicPem]]);
    const tarred = await tarOfFiles({ DESCRIPTION: 'x', APKINDEX: 'P:a\nV:1\nA:x86_64\n\n' });
    const ok = await loadIndex(await signIndexBody(gzipSync(tarred), key), ring, 'idx');
    expect(ok.packages.map((p) => p.name)).toEqual(['a']);
    const many = Buffer.concat([gzipSync(tarred), ...Array.from({ length: 100 }, () => gzipSync(Buffer.alloc(0)))]);
    await expect(loadIndex(await signIndexBody(many, key), ring, 'idx')).rejects.toThrow(/more than 64 gzip members/);
    process.env.OCIMAKE_MAX_RUN_FILE_SIZE = '1MiB';
    const big = gzipSync(await tarOfFiles({ DESCRIPTION: 'x', APKINDEX: `P:a\nV:1\nA:x86_64\nT:${'x'.repeat(2 << 20)}\n\n` }));
    await expect(loadIndex(await signIndexBody(big, key), ring, 'idx')).rejects.toThrow(/idx inflates to more than 1048576 bytes: past the limit runFileSize/);
  });

  it('a package whose data changed is refused by its datahash or the index checksum, before the data is inflated', async () => {
    const key = makeApkKey();
    const ring = new Map([[key.name, key.publicPem]]);
    const { file, index } = await buildApk({ name: 'p', version: '1-r0', files: { 'usr/bin/p': 'hello' } }, key);
    const checksum = /^C:(.*)$/m.exec(index)![1]!;
    const opened = await openPackage(file, ring, 'p.apk', { checksum, size: file.length });
    expect(opened.files.map((f) => f.name)).toContain('usr/bin/p');
    // The data member (the last one) replaced by non-gzip bytes of the same length.
    const dataAt = file.lastIndexOf(Buffer.from([0x1f, 0x8b, 8]));
    const bad = Buffer.concat([file.subarray(0, dataAt), Buffer.alloc(file.length - dataAt, 0xff)]);
    await expect(openPackage(bad, ring, 'p.apk', { checksum, size: bad.length })).rejects.toThrow(/does not match its datahash/);
    await expect(openPackage(bad, ring, 'p.apk', { checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', size: bad.length })).rejects.toThrow(/does not match the index/);
  });
});
