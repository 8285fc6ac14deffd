import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

// A registry on loopback that answers badly on purpose, one repository per kind of bad
// answer (issue 13, findings 2 and 3). Every repository serves a small valid image unless
// its name says otherwise; `requests` counts what each repository was asked.

export const HOSTILE = [
  'endless-error', 'endless-token', 'cut-ignores-range', 'huge-config', 'lying-config-size',
  'retry-after-forever', 'wrong-diff-id', 'numeric-token', 'html-manifest',
  // Issue 11's corpus:
  'endless-manifest', 'self-index', 'nested-index', 'layer-size-lies', 'endless-layer', 'gzip-bomb',
  // Issue 24: a layer sent one byte at a time, slowly enough to hold a build for ever, never idle long enough to time out.
  'dripping-layer',
] as const;
export type Hostile = (typeof HOSTILE)[number];

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const made = new Map<string, { manifest: Buffer; config: Buffer; layer: Buffer; index?: Buffer; inner?: Buffer }>();

/** A tar of one 100 MB file of zeros and then a small file: its gzip is about 1,000 times smaller. */
function bombTar(): Buffer {
  const header = (name: string, size: number) => {
    const h = Buffer.alloc(512);
    h.write(name, 0); h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124); h.write('00000000000\0', 136); h.write('0', 156); h.write('ustar\0', 257); h.write('00', 263);
    h.fill(0x20, 148, 156);
    let sum = 0; for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    return h;
  };
  const big = 100 << 20;
  const small = Buffer.alloc(512); small.write('ok\n');
  return Buffer.concat([header('big', big), Buffer.alloc(big), header('small', 3), small, Buffer.alloc(1024)]);
}

export function hostileImage(kind: string): { manifest: Buffer; config: Buffer; layer: Buffer; index?: Buffer; inner?: Buffer } {
  const known = made.get(kind);
  if (known) return known;
  const tar = kind === 'gzip-bomb' ? bombTar() : Buffer.alloc(1024); // else an empty tar: two zero blocks
  const layer = gzipSync(tar);
  const diffId = kind === 'wrong-diff-id' ? sha('something else') : sha(tar);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const configSize = kind === 'huge-config' ? 300 << 20 : config.length;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: configSize },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: kind === 'layer-size-lies' ? layer.length - 10 : layer.length }],
  }));
  const indexOf = (m: Buffer, type: string) => Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: type, digest: sha(m), size: m.length, platform: { os: 'linux', architecture: 'amd64' } }],
  }));
  const out: { manifest: Buffer; config: Buffer; layer: Buffer; index?: Buffer; inner?: Buffer } = { manifest, config, layer };
  if (kind === 'self-index') out.index = indexOf(manifest, 'application/vnd.oci.image.manifest.v1+json');
  if (kind === 'nested-index') { out.inner = indexOf(manifest, 'application/vnd.oci.image.manifest.v1+json'); out.index = indexOf(out.inner, 'application/vnd.oci.image.index.v1+json'); }
  made.set(kind, out);
  return out;
}

/** Writes `chunk` forever (until the client goes away). */
function endless(res: ServerResponse, chunk: Buffer): void {
  const pump = () => { while (!res.destroyed && res.write(chunk)); };
  res.on('drain', pump);
  pump();
}

export interface HostileRegistry {
  host: string;
  requests: Map<string, number>;
  close(): Promise<void>;
}

export async function startHostileRegistry(): Promise<HostileRegistry> {
  const requests = new Map<string, number>();
  const sockets = new Set<Socket>();
  let base = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', base);
    const m = /^\/v2\/h\/([a-z-]+)\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
    const kind = m?.[1] ?? url.pathname.slice(1);
    requests.set(kind, (requests.get(kind) ?? 0) + 1);
    if (url.pathname === '/v2/' ) { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); return; }
    if (url.pathname === '/token-endless') { res.writeHead(200, { 'content-type': 'application/json' }); endless(res, Buffer.alloc(64 << 10, 0x61)); return; }
    if (url.pathname === '/token-numeric') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"access_token": 5}'); return; }
    if (!m) { res.writeHead(404); res.end(); return; }
    const [, , what, id] = m as unknown as [string, string, string, string];
    const img = hostileImage(kind);
    if (kind === 'endless-error') { res.writeHead(404, { 'content-type': 'application/json' }); endless(res, Buffer.alloc(64 << 10, 0x62)); return; }
    if (kind === 'endless-token' || kind === 'numeric-token') {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${base}/token-${kind === 'endless-token' ? 'endless' : 'numeric'}",service="hostile"` });
        res.end();
        return;
      }
    }
    if (kind === 'retry-after-forever') { res.writeHead(429, { 'retry-after': '100000', 'content-type': 'application/json' }); res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'); return; }
    if (what === 'manifests' && kind === 'endless-manifest') { res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }); endless(res, Buffer.alloc(64 << 10, 0x20)); return; }
    if (what === 'manifests' && img.index) {
      // self-index: asked for the manifest by digest, it answers with the index again.
      const body = !id.startsWith('sha256:') ? img.index : kind === 'self-index' ? img.index : id === sha(img.inner!) ? img.inner! : img.manifest;
      const type = body === img.manifest ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.oci.image.index.v1+json';
      res.writeHead(200, { 'content-type': type, 'content-length': body.length }); res.end(body);
      return;
    }
    if (what === 'manifests') {
      const type = kind === 'html-manifest' ? 'text/html' : 'application/vnd.oci.image.manifest.v1+json';
      res.writeHead(200, { 'content-type': type, 'docker-content-digest': sha(img.manifest), 'content-length': img.manifest.length });
      res.end(img.manifest);
      return;
    }
    if (id === sha(img.config)) {
      if (kind === 'lying-config-size' || kind === 'huge-config') { res.writeHead(200, { 'content-type': 'application/octet-stream' }); endless(res, Buffer.alloc(64 << 10, 0x7b)); return; }
      res.writeHead(200, { 'content-length': img.config.length }); res.end(img.config); return;
    }
    if (id === sha(img.layer)) {
      if (kind === 'endless-layer') { res.writeHead(200, { 'content-type': 'application/octet-stream' }); endless(res, Buffer.alloc(64 << 10, 0x1f)); return; }
      if (kind === 'dripping-layer') {
        res.writeHead(200, { 'content-length': img.layer.length });
        let i = 0;
        const t = setInterval(() => { if (res.destroyed || i >= img.layer.length) { clearInterval(t); return; } res.write(img.layer.subarray(i, ++i)); }, 100);
        res.on('close', () => clearInterval(t));
        return;
      }
      if (kind === 'cut-ignores-range') {
        // Always the whole body announced, half of it sent, then the connection cut; Range ignored.
        res.writeHead(200, { 'content-length': img.layer.length });
        res.write(img.layer.subarray(0, img.layer.length >> 1), () => setTimeout(() => res.socket?.destroy(), 5));
        return;
      }
      res.writeHead(200, { 'content-length': img.layer.length }); res.end(img.layer); return;
    }
    res.writeHead(404); res.end();
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  base = `http://${host}`;
  return {
    host,
    requests,
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
