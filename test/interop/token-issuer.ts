import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { run } from './tools.js';

/**
 * A test token issuer for the distribution registry's `auth: token`: checks Basic
 * credentials and returns an RS256 JWT whose x5c header carries a self-signed certificate
 * that the registry trusts through `rootcertbundle`.
 */
export async function startTokenIssuer(dir: string, users: Record<string, string>, service: string, issuer: string): Promise<{ url: string; certFile: string; requests: string[]; close(): Promise<void> }> {
  const keyFile = join(dir, 'token-key.pem');
  const certFile = join(dir, 'token-cert.pem');
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=ocimake-test-token-issuer']);
  const key = readFileSync(keyFile, 'utf8');
  const der = new X509Certificate(readFileSync(certFile)).raw.toString('base64');
  const requests: string[] = [];
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(url.search);
    const auth = req.headers.authorization ?? '';
    const [user, pass] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
    if (!auth.startsWith('Basic ') || !user || users[user] !== pass) { res.statusCode = 401; return res.end('{"details":"bad credentials"}'); }
    const access = url.searchParams.getAll('scope').map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64({ typ: 'JWT', alg: 'RS256', x5c: [der] });
    const payload = b64({ iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access });
    const sig = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(key).toString('base64url');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token: `${header}.${payload}.${sig}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/token`;
  return { url, certFile, requests, close: () => new Promise((r) => server.close(() => r())) };
}
