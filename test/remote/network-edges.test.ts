import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { main } from '../../src/cli/main.js';
import { RegistryClient } from '../../src/remote/transport.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 14, "network": a TLS registry on loopback, a registry that never answers, and the
// words used when TLS and plain HTTP meet.

describe('a registry on loopback', () => {
  let tls: RunningRegistry;
  let plain: RunningRegistry;
  beforeAll(async () => {
    const dir = tempDir();
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keyType: 'ec', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] });
    writeFileSync(join(dir, 'cert.pem'), pems.cert);
    writeFileSync(join(dir, 'key.pem'), pems.private);
    tls = await startRegistry({ tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } });
    plain = await startRegistry();
  });
  afterAll(async () => { await tls.close(); await plain.close(); });

  it('is tried over HTTPS first (certificate not checked, as Docker does for loopback) and over HTTP when it has no TLS', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'hello\n' });
    const viaTls = await captured(() => main(['build', ctx, '-q', '-t', `${tls.host}/t/app:1`, '--push']));
    expect(viaTls.stderr).toBe('');
    expect(viaTls.value).toBe(0);
    expect(tls.url).toMatch(/^https:/);
    const viaHttp = await captured(() => main(['build', ctx, '-q', '-t', `${plain.host}/t/app:1`, '--push']));
    expect(viaHttp.value).toBe(0);
    expect(viaHttp.stdout).toBe(viaTls.stdout);
    const ref = `${tls.host}/t/app:1`;
    const inspect = await captured(() => main(['inspect', ref]));
    expect(inspect.value).toBe(0);
    expect(inspect.stdout).toContain(viaTls.stdout.trim());
    expect(new RegistryClient(plain.host).baseUrl).toBe(`http://${plain.host}`);
    expect(new RegistryClient(tls.host).baseUrl).toBe(`https://${tls.host}`);
  });

  it('forced to https, a plain HTTP registry gets a sentence, not an OpenSSL error', async () => {
    const c = new RegistryClient(plain.host, { scheme: 'https' });
    const err = await c.request({ method: 'GET', path: '/v2/', scopes: [] }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/answered in plain HTTP where HTTPS was expected/);
    expect(err?.message).not.toMatch(/ssl3_get_record/);
  });
});

describe('a registry that accepts connections and never answers', () => {
  let server: Server;
  let host: string;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    server = createServer((s) => { s.on('error', () => {}); sockets.push(s); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));

  it('times out after --network-timeout, tries once more, and says what it waited for', async () => {
    const notices: string[] = [];
    const c = new RegistryClient(host, { timeoutSeconds: 0.3, scheme: 'http', onNotice: (m) => notices.push(m) });
    const err = await c.request({ method: 'GET', path: '/v2/', scopes: [] }).then(() => undefined, (e: Error & { hint?: string }) => e);
    expect(err?.message).toMatch(new RegExp(`${host} did not answer within 0.3 s`));
    expect(err?.hint).toMatch(/--network-timeout/);
    expect(c.counters.requests).toBe(2);
    expect(notices[0]).toMatch(new RegExp(`waiting for ${host} to answer GET /v2/ \\(\\d+ s; gives up after 0.3 s`));
  });

  it('refuses a malformed OCIMAKE_NETWORK_TIMEOUT and --network-timeout by name', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\n' });
    const r = await captured(() => main(['build', ctx, '--network-timeout', 'soon']));
    expect(r.value).toBe(1);
    expect(r.stderr).toMatch(/--network-timeout soon is not a number of seconds/);
  });
});
