import { createHash, X509Certificate } from 'node:crypto';
import { RunError } from '../errors.js';
import { Inode, joinPath } from '../fs/run-fs.js';
import type { Command, ShellState } from '../shell/state.js';

// update-ca-certificates as Alpine's ca-certificates package does it: the certificates named
// in /etc/ca-certificates.conf (under /usr/share/ca-certificates, "!" deselects) and every
// *.crt under /usr/local/share/ca-certificates go into /etc/ssl/certs/ca-certificates.crt,
// each gets a NAME.pem link in /etc/ssl/certs, and a HASH.N link by OpenSSL's subject hash
// (the names `openssl rehash` gives; the interop suite checks them against openssl).

const SHARE = 'usr/share/ca-certificates';
const LOCAL = 'usr/local/share/ca-certificates';
const CERTS = 'etc/ssl/certs';

/** One DER element: tag, the whole element, and its contents. */
function der(b: Buffer, off: number): { tag: number; start: number; end: number; body: Buffer; whole: Buffer } {
  const tag = b[off]!;
  let len = b[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
  }
  return { tag, start: off, end: p + len, body: b.subarray(p, p + len), whole: b.subarray(off, p + len) };
}

function children(body: Buffer): ReturnType<typeof der>[] {
  const out: ReturnType<typeof der>[] = [];
  for (let off = 0; off < body.length;) { const e = der(body, off); out.push(e); off = e.end; }
  return out;
}

function encode(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : (() => { const bytes: number[] = []; for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff); return Buffer.from([0x80 | bytes.length, ...bytes]); })();
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

// String types OpenSSL canonicalises (ASN1_MASK_CANON): UTF8, Printable, T61, IA5, Visible, Universal, BMP.
const STRING_TAGS = new Map<number, (b: Buffer) => string>([
  [0x0c, (b) => b.toString('utf8')], [0x13, (b) => b.toString('latin1')], [0x14, (b) => b.toString('latin1')], [0x16, (b) => b.toString('latin1')],
  [0x1a, (b) => b.toString('latin1')], [0x1e, (b) => b.swap16().toString('utf16le')],
  [0x1c, (b) => { let s = ''; for (let i = 0; i + 3 < b.length; i += 4) s += String.fromCodePoint(b.readUInt32BE(i)); return s; }],
]);

/** OpenSSL's X509_NAME_hash (the "new" hash of `openssl x509 -hash`): SHA-1 of the canonical subject, first 4 bytes little-endian. */
export function subjectHash(certDer: Buffer): string {
  const tbs = children(der(certDer, 0).body)[0]!;
  const fields = children(tbs.body);
  const i = fields[0]!.tag === 0xa0 ? 1 : 0;
  const subject = fields[i + 4]!;
  const canon: Buffer[] = [];
  for (const rdn of children(subject.body)) {
    const atvs = children(rdn.body).map((atv) => {
      const [oid, value] = children(atv.body) as [ReturnType<typeof der>, ReturnType<typeof der>];
      const decode = STRING_TAGS.get(value.tag);
      if (!decode) return atv.whole;
      const text = decode(Buffer.from(value.body)).replace(/[ \t\n\v\f\r]+/g, ' ').trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
      return encode(0x30, Buffer.concat([oid.whole, encode(0x0c, Buffer.from(text, 'utf8'))]));
    });
    canon.push(encode(0x31, Buffer.concat(atvs)));
  }
  const h = createHash('sha1').update(Buffer.concat(canon)).digest();
  return h.readUInt32LE(0).toString(16).padStart(8, '0');
}

function pemBlocks(text: string): Buffer[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

async function readFileText(sh: ShellState, abs: string): Promise<string | undefined> {
  const { node } = await sh.fs.resolve(abs, true);
  return node?.type === 'file' ? (await sh.fs.bytes(node)).toString('utf8') : undefined;
}

async function listCrt(sh: ShellState, dir: string): Promise<string[]> {
  const { path, node } = await sh.fs.resolve(`/${dir}`, true);
  if (node?.type !== 'directory') return [];
  const out: string[] = [];
  for (const name of await sh.fs.readdir(path)) {
    const p = joinPath(path, name);
    const n = await sh.fs.at(p);
    if (n?.type === 'directory') out.push(...(await listCrt(sh, p)));
    else if (name.endsWith('.crt')) out.push(p);
  }
  return out;
}

/** Rebuilds the bundle and the links in /etc/ssl/certs. */
export async function updateCaCertificates(sh: ShellState): Promise<void> {
  const sources: string[] = [];
  const conf = await readFileText(sh, '/etc/ca-certificates.conf');
  for (const line of (conf ?? '').split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    sources.push(`${SHARE}/${line}`);
  }
  if (conf === undefined) sources.push(...(await listCrt(sh, SHARE)));
  sources.push(...(await listCrt(sh, LOCAL)));
  const certsDir = await sh.fs.resolve(`/${CERTS}`, true);
  if (!certsDir.node) {
    const segs = CERTS.split('/');
    for (let i = 1; i <= segs.length; i++) if (!(await sh.fs.at(segs.slice(0, i).join('/')))) await sh.fs.makeDir(segs.slice(0, i).join('/'), { mode: 0o755, uid: 0, gid: 0 });
  }
  const dir = (await sh.fs.resolve(`/${CERTS}`, true)).path;
  // Links this tool made before (NAME.pem into the certificate directories, HASH.N) are made again.
  for (const name of await sh.fs.readdir(dir)) {
    const n = await sh.fs.at(joinPath(dir, name));
    if (n?.type === 'symlink' && (/^[0-9a-f]{8}\.\d+$/.test(name) || n.target.startsWith(`/${SHARE}/`) || n.target.startsWith(`/${LOCAL}/`))) await sh.fs.remove(joinPath(dir, name));
  }
  let bundle = '';
  const used = new Map<string, number>();
  for (const src of sources) {
    const text = await readFileText(sh, `/${src}`);
    if (text === undefined) continue;
    const blocks = pemBlocks(text);
    if (blocks.length === 0) continue;
    const pem = `${src.slice(src.lastIndexOf('/') + 1).replace(/\.crt$/, '')}.pem`;
    sh.fs.set(joinPath(dir, pem), { type: 'symlink', meta: { mode: 0o777, uid: 0, gid: 0 }, target: `/${src}` });
    try { new X509Certificate(blocks[0]!); } catch { throw new RunError(`${src}: not a valid certificate`); }
    const hash = subjectHash(blocks[0]!);
    const n = used.get(hash) ?? 0;
    used.set(hash, n + 1);
    sh.fs.set(joinPath(dir, `${hash}.${n}`), { type: 'symlink', meta: { mode: 0o777, uid: 0, gid: 0 }, target: pem });
    bundle += text.endsWith('\n') ? text : `${text}\n`;
  }
  const bundlePath = joinPath(dir, 'ca-certificates.crt');
  const old = await sh.fs.at(bundlePath);
  const meta = old?.type === 'file' ? { ...old.ino.meta } : { mode: 0o644, uid: 0, gid: 0 };
  if (old) await sh.fs.remove(bundlePath);
  sh.fs.set(bundlePath, { type: 'file', ino: new Inode(meta, Buffer.from(bundle)) });
}

export const updateCaCertificatesCommand: Command = async (args, _io, sh) => {
  if (sh.user.uid !== 0) throw new RunError('must be run as root');
  void args; // --fresh and -v change nothing here: the links are always made again.
  await updateCaCertificates(sh);
  return 0;
};
