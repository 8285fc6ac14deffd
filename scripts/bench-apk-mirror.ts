// An Alpine mirror for the bench's W9 row (seed 000's `RUN apk add -U tzdata`), served on
// loopback until killed. `npm run bench` bundles this with esbuild and runs it in a child
// process (the bench itself blocks on the builders it times). Made with the tests' apk
// generator, so apk-tools reads it; sized like Alpine 3.20's: a tzdata of 600 zone files and
// 80 links, and main and community indexes of 5,600 and 20,000 entries, which `apk add -U`
// downloads and parses. Only tzdata has a package file; the other entries are never fetched.
// Prints one JSON line, {"url","keyName","keyFile"}, once it serves.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApk, buildIndex, makeApkKey, serveStatic, type FakeFile } from '../test/helpers/apk-repo.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: bench-apk-mirror DIR');

const zones: Record<string, FakeFile> = {};
const regions = ['Africa', 'America', 'Antarctica', 'Asia', 'Atlantic', 'Australia', 'Europe', 'Indian', 'Pacific', 'Etc'];
for (let i = 0; i < 600; i++) {
  // TZif-like bodies of 100 B to 3.5 KiB, distinct so that none compresses to nothing.
  const body = `TZif2${createHash('sha256').update(String(i)).digest('hex').repeat(1 + (i % 27))}\n`;
  zones[`usr/share/zoneinfo/${regions[i % regions.length]}/Zone${i}`] = body;
}
zones['usr/share/zoneinfo/Asia/Shanghai'] = 'TZif2 CST-8\n';
for (let i = 0; i < 80; i++) zones[`usr/share/zoneinfo/posix/Link${i}`] = { link: `../${regions[i % regions.length]}/Zone${i}` };
zones['usr/bin/zdump'] = { content: 'ELF zdump', mode: 0o755 };

const key = makeApkKey();
const filler = (name: string) => [
  `C:Q1${createHash('sha1').update(name).digest('base64')}`, `P:${name}`, 'V:1.0.0-r0', 'A:x86_64', 'S:12345', 'I:45678',
  `T:${name} for the bench`, 'U:https://example.invalid/', 'L:MIT', `o:${name}`, 'm:ocimake bench', 't:1700000000', 'D:so:libc.musl-x86_64.so.1',
].join('\n');
for (const [repo, count] of [['main', 5600], ['community', 20000]] as const) {
  const arch = join(dir, repo, 'x86_64');
  mkdirSync(arch, { recursive: true });
  const entries = Array.from({ length: count }, (_, i) => filler(`${repo}-pkg${i}`));
  if (repo === 'main') {
    const tz = { name: 'tzdata', version: '2024a-r1', files: zones };
    const { file, index } = await buildApk(tz, key);
    writeFileSync(join(arch, `${tz.name}-${tz.version}.apk`), file);
    entries.splice(count >> 1, 0, index);
  }
  writeFileSync(join(arch, 'APKINDEX.tar.gz'), await buildIndex(entries, key, `v3.20-${repo}`));
}
const keyFile = join(dir, key.name);
writeFileSync(keyFile, key.publicPem);
const served = await serveStatic(dir);
process.stdout.write(`${JSON.stringify({ url: served.url, keyName: key.name, keyFile })}\n`);
