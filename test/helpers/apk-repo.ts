import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { fixture } from './alpine-images.js';

// A generator of real apk v2 repositories for tests: packages laid out as abuild writes them
// (signature, control and data gzip members; PAX checksums on data entries; datahash in
// .PKGINFO) and a signed APKINDEX.tar.gz, with a key made at test time. The real apk-tools
// reads these in the interop suite, so the format is checked by apk itself.

export interface ApkKey { name: string; privatePem: string; publicPem: string }

export function makeApkKey(): ApkKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    name: `ocimake-test-${randomBytes(4).toString('hex')}.rsa.pub`,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export type FakeFile = string | { content: string; mode?: number; uid?: number; gid?: number } | { link: string } | { dir: true; mode?: number; uid?: number; gid?: number };

export interface FakePackage {
  name: string;
  version: string;
  arch?: string;
  description?: string;
  depends?: string[];
  provides?: string[];
  installIf?: string[];
  replaces?: string[];
  providerPriority?: number;
  /** Paths without a leading slash. Parent directories are added as abuild does. */
  files?: Record<string, FakeFile>;
  /** Control scripts by name (".post-install", ".trigger", ...), and the trigger paths. */
  scripts?: Record<string, string>;
  triggers?: string[];
}

interface TarItem { header: Partial<tar.Header> & { name: string; pax?: Record<string, string> }; body?: Buffer }

async function tarOf(items: TarItem[], cut: boolean): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const it of items) {
    await new Promise<void>((resolve, reject) => pack.entry(it.header as tar.Header, it.body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  const all = Buffer.concat(chunks);
  // abuild-tar --cut: no end-of-archive blocks in the signature and control members.
  if (!cut) return all;
  let end = all.length;
  while (end >= 512 && all.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
  return all.subarray(0, end);
}

const sha1hex = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');

function dataItems(p: FakePackage): { items: TarItem[]; installedSize: number } {
  const files = p.files ?? {};
  const dirs = new Map<string, { mode: number; uid: number; gid: number }>();
  const items: TarItem[] = [];
  let installedSize = 0;
  const addParents = (path: string) => {
    const segs = path.split('/');
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join('/');
      if (!dirs.has(d)) dirs.set(d, { mode: 0o755, uid: 0, gid: 0 });
    }
  };
  for (const [path, f] of Object.entries(files)) {
    addParents(path);
    if (typeof f === 'object' && 'dir' in f) dirs.set(path, { mode: f.mode ?? 0o755, uid: f.uid ?? 0, gid: f.gid ?? 0 });
  }
  const all = [...new Set([...dirs.keys(), ...Object.keys(files)])].sort();
  for (const path of all) {
    const f = files[path];
    const mtime = new Date(1_700_000_000_000);
    if (f === undefined || (typeof f === 'object' && 'dir' in f)) {
      const d = dirs.get(path)!;
      items.push({ header: { name: `${path}/`, type: 'directory', mode: d.mode, uid: d.uid, gid: d.gid, uname: 'root', gname: 'root', mtime } });
    } else if (typeof f === 'object' && 'link' in f) {
      items.push({ header: { name: path, type: 'symlink', linkname: f.link, mode: 0o777, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime, pax: { 'APK-TOOLS.checksum.SHA1': sha1hex(f.link) } } });
    } else {
      const c = typeof f === 'string' ? { content: f } : f;
      const body = Buffer.from(c.content);
      installedSize += body.length;
      items.push({ header: { name: path, type: 'file', size: body.length, mode: c.mode ?? 0o644, uid: c.uid ?? 0, gid: c.gid ?? 0, uname: 'root', gname: 'root', mtime, pax: { 'APK-TOOLS.checksum.SHA1': sha1hex(body) } }, body });
    }
  }
  return { items, installedSize };
}

/** Builds a signed .apk; returns its bytes and the fields of its index entry. */
export async function buildApk(p: FakePackage, key: ApkKey, alg: 'sha1' | 'sha256' = 'sha1'): Promise<{ file: Buffer; index: string }> {
  const arch = p.arch ?? 'x86_64';
  const { items, installedSize } = dataItems(p);
  const data = gzipSync(await tarOf(items, false), { level: 9 });
  const info = [
    `pkgname = ${p.name}`, `pkgver = ${p.version}`, `pkgdesc = ${p.description ?? `${p.name} for tests`}`, 'url = https://example.invalid/', 'builddate = 1700000000',
    `packager = ocimake tests`, `size = ${installedSize}`, `arch = ${arch}`, `origin = ${p.name}`, 'license = MIT',
    ...(p.depends ?? []).map((d) => `depend = ${d}`), ...(p.provides ?? []).map((d) => `provides = ${d}`),
    ...(p.installIf?.length ? [`install_if = ${p.installIf.join(' ')}`] : []), ...(p.replaces ?? []).map((r) => `replaces = ${r}`),
    ...(p.providerPriority !== undefined ? [`provider_priority = ${p.providerPriority}`] : []),
    ...(p.triggers?.length ? [`triggers = ${p.triggers.join(' ')}`] : []),
    `datahash = ${createHash('sha256').update(data).digest('hex')}`, '',
  ].join('\n');
  const controlItems: TarItem[] = [{ header: { name: '.PKGINFO', size: Buffer.byteLength(info), mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: new Date(1_700_000_000_000) }, body: Buffer.from(info) }];
  for (const [name, text] of Object.entries(p.scripts ?? {})) controlItems.push({ header: { name, size: Buffer.byteLength(text), mode: 0o755, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: new Date(1_700_000_000_000) }, body: Buffer.from(text) });
  const control = gzipSync(await tarOf(controlItems, true), { level: 9 });
  const signature = sign(alg, control, key.privatePem);
  const sig = gzipSync(await tarOf([{ header: { name: `.SIGN.${alg === 'sha1' ? 'RSA' : 'RSA256'}.${key.name}`, size: signature.length, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: new Date(1_700_000_000_000) }, body: signature }], true), { level: 9 });
  const file = Buffer.concat([sig, control, data]);
  const index = [
    `C:Q1${createHash('sha1').update(control).digest('base64')}`, `P:${p.name}`, `V:${p.version}`, `A:${arch}`, `S:${file.length}`, `I:${installedSize}`,
    `T:${p.description ?? `${p.name} for tests`}`, 'U:https://example.invalid/', 'L:MIT', `o:${p.name}`, 'm:ocimake tests', 't:1700000000',
    ...(p.providerPriority !== undefined ? [`k:${p.providerPriority}`] : []),
    ...(p.depends?.length ? [`D:${p.depends.join(' ')}`] : []), ...(p.provides?.length ? [`p:${p.provides.join(' ')}`] : []),
    ...(p.installIf?.length ? [`i:${p.installIf.join(' ')}`] : []), ...(p.replaces?.length ? [`r:${p.replaces.join(' ')}`] : []),
  ].join('\n');
  return { file, index };
}

/** A signed APKINDEX.tar.gz from index entries. */
export async function buildIndex(entries: string[], key: ApkKey, description = 'ocimake-test', alg: 'sha1' | 'sha256' = 'sha1'): Promise<Buffer> {
  const text = `${entries.join('\n\n')}\n\n`;
  const body = gzipSync(await tarOf([
    { header: { name: 'DESCRIPTION', size: Buffer.byteLength(description), mode: 0o644, mtime: new Date(1_700_000_000_000) }, body: Buffer.from(description) },
    { header: { name: 'APKINDEX', size: Buffer.byteLength(text), mode: 0o644, mtime: new Date(1_700_000_000_000) }, body: Buffer.from(text) },
  ], false), { level: 9 });
  return signIndexBody(body, key, alg);
}

/** An index body (gzip members as given) with a signature member before it. */
export async function signIndexBody(body: Buffer, key: ApkKey, alg: 'sha1' | 'sha256' = 'sha1'): Promise<Buffer> {
  const signature = sign(alg, body, key.privatePem);
  const sig = gzipSync(await tarOf([{ header: { name: `.SIGN.${alg === 'sha1' ? 'RSA' : 'RSA256'}.${key.name}`, size: signature.length, mode: 0o644, mtime: new Date(1_700_000_000_000) }, body: signature }], true), { level: 9 });
  return Buffer.concat([sig, body]);
}

/** A tar of files, as an index body's member holds it. */
export async function tarOfFiles(files: Record<string, string | Buffer>): Promise<Buffer> {
  return tarOf(Object.entries(files).map(([name, c]) => ({ header: { name, size: Buffer.byteLength(c), mode: 0o644, mtime: new Date(1_700_000_000_000) }, body: Buffer.from(c) })), false);
}

/** Writes a repository: DIR/ARCH/NAME-VERSION.apk and DIR/ARCH/APKINDEX.tar.gz. */
export async function writeApkRepo(dir: string, packages: FakePackage[], key: ApkKey, arch = 'x86_64', alg: 'sha1' | 'sha256' = 'sha1'): Promise<void> {
  mkdirSync(join(dir, arch), { recursive: true });
  const entries: string[] = [];
  for (const p of packages) {
    const { file, index } = await buildApk({ arch, ...p }, key, alg);
    writeFileSync(join(dir, arch, `${p.name}-${p.version}.apk`), file);
    entries.push(index);
  }
  writeFileSync(join(dir, arch, 'APKINDEX.tar.gz'), await buildIndex(entries, key, 'ocimake-test', alg));
}

/** Serves a directory over HTTP on loopback; counts requests per path. */
export async function serveStatic(root: string): Promise<{ url: string; requests: Map<string, number>; close(): Promise<void> }> {
  const { readFile } = await import('node:fs/promises');
  const requests = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.set(path, (requests.get(path) ?? 0) + 1);
    if (path.includes('..')) { res.writeHead(400).end(); return; }
    readFile(join(root, path)).then((b) => {
      const etag = `"${createHash('sha256').update(b).digest('hex').slice(0, 16)}"`;
      if (req.headers['if-none-match'] === etag) { requests.set(`304 ${path}`, (requests.get(`304 ${path}`) ?? 0) + 1); res.writeHead(304, { etag }).end(); return; }
      res.writeHead(200, { 'content-length': b.length, etag });
      res.end(b);
    }, () => { res.writeHead(404).end('not found'); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The small repository the tests and the interop suite share: a tzdata-like and a ca-certificates-like package, libraries with so: names, a virtual. */
export function testPackages(): FakePackage[] {
  return [
    { name: 'tzdata', version: '2024a-r0', files: { 'usr/share/zoneinfo/UTC': 'TZif2 UTC\n', 'usr/share/zoneinfo/Asia/Shanghai': 'TZif2 CST-8\n', 'usr/share/zoneinfo/Europe/Paris': 'TZif2 CET\n' } },
    { name: 'libfoo', version: '1.2.0-r0', provides: ['so:libfoo.so.1=1.2.0'], files: { 'usr/lib/libfoo.so.1.2.0': { content: 'ELF libfoo', mode: 0o755 }, 'usr/lib/libfoo.so.1': { link: 'libfoo.so.1.2.0' } } },
    { name: 'libfoo', version: '1.1.0-r0', provides: ['so:libfoo.so.1=1.1.0'], files: { 'usr/lib/libfoo.so.1.1.0': { content: 'ELF libfoo old', mode: 0o755 }, 'usr/lib/libfoo.so.1': { link: 'libfoo.so.1.1.0' } } },
    { name: 'footool', version: '0.9_rc1-r2', depends: ['so:libfoo.so.1', 'tzdata'], provides: ['cmd:footool=0.9_rc1-r2'], files: { 'usr/bin/footool': { content: '#!/bin/sh\necho foo\n', mode: 0o755 }, 'etc/footool.conf': 'conf=1\n', 'var/lib/footool': { dir: true, mode: 0o750, uid: 0, gid: 0 } } },
    { name: 'conflicting', version: '1.0-r0', depends: ['!footool'], files: { 'usr/share/conflicting': 'x\n' } },
    {
      // Like Alpine's: the certificates, the list of those enabled, the tool, and a trigger that runs it.
      name: 'ca-certificates', version: '20240226-r0',
      files: {
        'usr/share/ca-certificates/mozilla/ocimake_Test_Root_CA.crt': readFileSync(fixture('certs/test-root-ca.pem'), 'utf8'),
        'etc/ca-certificates.conf': '# enabled certificates\nmozilla/ocimake_Test_Root_CA.crt\n',
        'usr/sbin/update-ca-certificates': { content: '#!/bin/sh\nexit 0\n', mode: 0o755 },
        'etc/ssl/certs': { dir: true },
      },
      scripts: { '.trigger': '#!/bin/sh\nexec /usr/sbin/update-ca-certificates --fresh >/dev/null 2>&1\n' },
      triggers: ['/usr/share/ca-certificates/*', '/usr/local/share/ca-certificates/*', '/etc/ssl/certs/*'],
    },
    { name: 'scripted', version: '1.0-r0', files: { 'etc/scripted': 'x\n' }, scripts: { '.post-install': '#!/bin/sh\necho hi\n' } },
  ];
}
