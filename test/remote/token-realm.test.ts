import { describe, expect, it } from 'vitest';
import { OcimakeError } from '../../src/errors.js';
import { fetchToken, isPrivateHost } from '../../src/remote/token.js';
import { poolFor } from '../../src/remote/http.js';

// Issue 12 (security): Basic credentials go to a token realm only over https (unless the
// registry itself is plain HTTP), and never to a private or link-local address for a
// public registry. Both are refused before any request is made.

const base = {
  scopes: ['repository:a/b:pull'], creds: { username: 'u', password: 'secret' },
  pool: poolFor(30_000, true), policy: { attempts: 1 }, counters: { requests: 0, maxBuffered: 0 }, hint: 'h',
};

describe('where credentials may go', () => {
  it('refuses an http realm for a registry reached over https', async () => {
    const err = await fetchToken({ ...base, registry: 'registry.example.com', registryInsecure: false, params: { realm: 'http://auth.example.com/token' } }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OcimakeError);
    expect((err as OcimakeError).message).toMatch(/over plain HTTP/);
    expect(base.counters.requests).toBe(0);
  });

  it('refuses a private or link-local realm for a public registry', async () => {
    for (const realm of ['https://10.0.0.5/token', 'https://169.254.169.254/latest', 'https://[::1]/t', 'https://localhost/t']) {
      const err = await fetchToken({ ...base, registry: 'ghcr.io', registryInsecure: false, params: { realm } }).then(() => undefined, (e: unknown) => e);
      expect((err as OcimakeError).message, realm).toMatch(/private address/);
    }
    expect(base.counters.requests).toBe(0);
  });

  it('knows private addresses by their literals', () => {
    for (const h of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.0.1', '::1', 'fd00::1', 'fe80::1', 'localhost']) expect(isPrivateHost(h), h).toBe(true);
    for (const h of ['8.8.8.8', '172.32.0.1', 'ghcr.io', '2001:db8::1']) expect(isPrivateHost(h), h).toBe(false);
  });
});
