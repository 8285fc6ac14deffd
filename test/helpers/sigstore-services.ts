import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, initializeTSA, rekorHandler, tsaHandler } from '@sigstore/mock';

// Mock Fulcio, Rekor and a timestamp authority from @sigstore/mock, served over real HTTP on loopback (not nock), and
// the trusted root that verifies what they issue. Issue 10's keyless flow runs against them.

export interface SigstoreServices { url: string; trustedRoot: unknown; token(claims: Record<string, string>): string; close(): Promise<void> }

const b64 = (b: ArrayBufferView | Buffer) => Buffer.from(b as Uint8Array).toString('base64');
const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });

export async function startSigstoreServices(): Promise<SigstoreServices> {
  const keyPair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  let url = '';
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // One fixed clock for every certificate, log entry and timestamp the mock issues: with a live
  // clock the mock's encodings round differently, and a timestamp could fall just before the
  // certificate it times ("invalid time", about one run in three). The next whole second, so
  // the CA's own certificates (made now, on the real clock) are already valid then.
  const clock = new Date(Math.ceil(Date.now() / 1000) * 1000);
  const ctlog = await initializeCTLog(keyPair, clock);
  const ca = await initializeCA(keyPair, ctlog, clock);
  const tlog = await initializeTLog(url, keyPair, clock);
  const tsa = await initializeTSA(keyPair, clock);
  const handlers = [fulcioHandler(ca), rekorHandler(tlog), tsaHandler(tsa)];
  server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const h = handlers.find((x) => req.method === 'POST' && x.path === new URL(req.url ?? '/', url).pathname);
      if (!h) { res.writeHead(404); res.end(); return; }
      h.fn(Buffer.concat(chunks).toString('utf8')).then(({ statusCode, response, contentType }) => {
        res.writeHead(statusCode, { 'content-type': contentType ?? 'application/json' });
        res.end(typeof response === 'string' ? response : Buffer.from(response as Uint8Array));
      }, (err: unknown) => { res.writeHead(500); res.end(String(err)); });
    });
  });
  const key = { rawBytes: b64(spki(keyPair.publicKey)), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: '2000-01-01T00:00:00Z' } };
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{ baseUrl: url, hashAlgorithm: 'SHA2_256', publicKey: key, logId: { keyId: b64(createHash('sha256').update(spki(keyPair.publicKey)).digest()) } }],
    certificateAuthorities: [{ subject: { organization: 'mock', commonName: 'mock' }, uri: url, certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] }, validFor: { start: '2000-01-01T00:00:00Z' } }],
    ctlogs: [{ baseUrl: url, hashAlgorithm: 'SHA2_256', publicKey: key, logId: { keyId: b64(ctlog.logID) } }],
    timestampAuthorities: [{ subject: { organization: 'mock', commonName: 'mock-tsa' }, uri: url, certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] }, validFor: { start: '2000-01-01T00:00:00Z' } }],
  };
  return {
    url,
    trustedRoot,
    // An unsigned JWT: the mock reads its claims and does not check a signature.
    token: (claims) => `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ aud: 'sigstore', exp: Math.floor(Date.now() / 1000) + 600, ...claims })).toString('base64url')}.`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
