import { text } from 'node:stream/consumers';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/remote/transport.js';
import { OcimakeError } from '../../src/errors.js';

// Transport behaviour against small real HTTP servers on 127.0.0.1: the auth flows,
// retries and redirects that a full registry does not let a test provoke on demand.

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];

async function serve(handler: Handler): Promise<string> {
  const srv = createServer(handler);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const addr = srv.address();
  return `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const noCreds = async () => undefined;

describe('RegistryClient', () => {
  describe('when answers are thrown away (discard)', () => {
    it('keeps one pooled connection for small bodies and closes it for a large one', async () => {
      const sockets = new Set<unknown>();
      const host = await serve((req, res) => {
        sockets.add(req.socket);
        if (req.url === '/v2/big') return res.end(Buffer.alloc(1 << 20));
        res.statusCode = 404;
        res.end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      });
      const client = new RegistryClient(host, { credentials: noCreds, scheme: 'http' });
      const { discard } = await import('../../src/remote/bounded.js');
      for (let i = 0; i < 5; i++) {
        const r = await client.request({ method: 'GET', path: `/v2/a/blobs/${i}`, scopes: [] });
        expect(r.status).toBe(404);
        await discard(r.body);
      }
      expect(sockets.size).toBe(1);
      const big = await client.request({ method: 'GET', path: '/v2/big', scopes: [] });
      await discard(big.body);
      const after = await client.request({ method: 'GET', path: '/v2/a/blobs/x', scopes: [] });
      await discard(after.body);
      expect(sockets.size).toBe(2);
    });
  });

  describe('when the registry answers with a Bearer challenge', () => {
    it('fetches a token for the scope with basic credentials, caches it, and retries', async () => {
      const seen: string[] = [];
      let tokenRequests = 0;
      const auth = await serve((req, res) => {
        tokenRequests++;
        seen.push(`token ${req.url} ${req.headers.authorization ?? ''}`);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ token: 'T0K' }));
      });
      const host = await serve((req, res) => {
        seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
        if (req.headers.authorization !== 'Bearer T0K') {
          res.statusCode = 401;
          res.setHeader('www-authenticate', `Bearer realm="http://${auth}/token",service="reg",scope="repository:a/b:pull"`);
          return res.end();
        }
        res.end('ok');
      });
      const client = new RegistryClient(host, { credentials: async () => ({ username: 'u', password: 'p' }) });
      for (let i = 0; i < 2; i++) {
        const r = await client.request({ method: 'GET', path: '/v2/a/b/tags/list', scopes: ['repository:a/b:pull'] });
        expect(r.status).toBe(200);
        await r.body.dump();
      }
      expect(tokenRequests).toBe(1);
      expect(seen[1]).toBe(`token /token?service=reg&scope=repository%3Aa%2Fb%3Apull Basic ${Buffer.from('u:p').toString('base64')}`);
    });

    it('fails with UNAUTHORIZED and a hint naming where credentials come from when the token is refused', async () => {
      const auth = await serve((_req, res) => { res.statusCode = 401; res.end('{"details":"bad creds"}'); });
      const host = await serve((_req, res) => {
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="http://${auth}/token",service="reg"`);
        res.end();
      });
      const client = new RegistryClient(host, { credentials: noCreds });
      const err = await client.request({ method: 'GET', path: '/v2/', scopes: [] }).catch((e: unknown) => e as OcimakeError);
      expect(err).toBeInstanceOf(OcimakeError);
      expect((err as OcimakeError).code).toBe('UNAUTHORIZED');
      expect((err as OcimakeError).hint).toMatch(/ocimake login .*config.json.*OCIMAKE_REGISTRY_AUTH/);
      expect((err as OcimakeError).hint).not.toMatch(/run "docker login/);
      expect((err as OcimakeError).message).toMatch(/failed with 401: bad creds$/);
    });

    it('names where the refused credentials came from, and reads the words out of a JSON error body', async () => {
      const auth = await serve((_req, res) => { res.statusCode = 401; res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}'); });
      const host = await serve((_req, res) => {
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="http://${auth}/token",service="reg"`);
        res.end();
      });
      const client = new RegistryClient(host, { credentials: async () => ({ username: 'u', password: 'wrong', source: 'OCIMAKE_REGISTRY_AUTH' }) });
      const err = await client.request({ method: 'GET', path: '/v2/', scopes: [] }).catch((e: unknown) => e as OcimakeError);
      expect((err as OcimakeError).message).toMatch(/failed with 401: authentication required$/);
      expect((err as OcimakeError).hint).toMatch(/credentials for .* in OCIMAKE_REGISTRY_AUTH/);
      expect((err as OcimakeError).hint).not.toMatch(/docker config/);
    });
  });

  describe('when the registry asks for basic auth', () => {
    it('sends the credentials', async () => {
      const host = await serve((req, res) => {
        if (!req.headers.authorization) { res.statusCode = 401; res.setHeader('www-authenticate', 'Basic realm="r"'); return res.end(); }
        res.end(req.headers.authorization);
      });
      const client = new RegistryClient(host, { credentials: async () => ({ username: 'a', password: 'b' }) });
      const r = await client.request({ method: 'GET', path: '/v2/', scopes: [] });
      expect(await text(r.body)).toBe(`Basic ${Buffer.from('a:b').toString('base64')}`);
    });
    it('says how to log in when there are no credentials', async () => {
      const host = await serve((_req, res) => { res.statusCode = 401; res.setHeader('www-authenticate', 'Basic realm="r"'); res.end(); });
      const client = new RegistryClient(host, { credentials: noCreds });
      await expect(client.request({ method: 'GET', path: '/v2/', scopes: [] })).rejects.toThrow(/requires authentication/);
    });
  });

  describe('when the registry is busy', () => {
    it('retries 429 after Retry-After and 503 with backoff', async () => {
      let n = 0;
      const host = await serve((_req, res) => {
        n++;
        if (n === 1) { res.statusCode = 429; res.setHeader('retry-after', '0'); return res.end(); }
        if (n === 2) { res.statusCode = 503; return res.end(); }
        res.end('done');
      });
      const client = new RegistryClient(host, { credentials: noCreds });
      const r = await client.request({ method: 'GET', path: '/v2/', scopes: [] });
      expect(await text(r.body)).toBe('done');
      expect(n).toBe(3);
    });
    it('gives up after the retry budget and returns the last answer', async () => {
      const host = await serve((_req, res) => { res.statusCode = 500; res.end(); });
      const client = new RegistryClient(host, { credentials: noCreds, retries: 1 });
      const r = await client.request({ method: 'GET', path: '/v2/', scopes: [] });
      expect(r.status).toBe(500);
      await r.body.dump();
    });
  });

  describe('when a blob GET redirects to another host', () => {
    it('follows without sending Authorization there', async () => {
      let cdnAuth: string | undefined = 'unset';
      const cdn = await serve((req, res) => { cdnAuth = req.headers.authorization; res.end('blob'); });
      const host = await serve((req, res) => {
        if (req.headers.authorization !== 'Basic eDp5') { res.statusCode = 401; res.setHeader('www-authenticate', 'Basic realm="r"'); return res.end(); }
        res.statusCode = 307;
        res.setHeader('location', `http://${cdn}/signed?x=1`);
        res.end();
      });
      const client = new RegistryClient(host, { credentials: async () => ({ username: 'x', password: 'y' }) });
      const r = await client.request({ method: 'GET', path: '/v2/a/blobs/sha256:x', scopes: [] });
      expect(await text(r.body)).toBe('blob');
      expect(cdnAuth).toBeUndefined();
    });
  });

  it('starts with https everywhere (loopback and --insecure-registry hosts fall back to http once they show no TLS), unless a scheme is forced', () => {
    expect(new RegistryClient('ghcr.io').baseUrl).toBe('https://ghcr.io');
    expect(new RegistryClient('docker.io').baseUrl).toBe('https://registry-1.docker.io');
    expect(new RegistryClient('localhost:5999').baseUrl).toBe('https://localhost:5999');
    expect(new RegistryClient('reg.lan:5000', { scheme: 'http' }).baseUrl).toBe('http://reg.lan:5000');
  });
});
