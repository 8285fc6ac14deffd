import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerCredentials } from '../../src/remote/credentials.js';
import { tempDir } from '../helpers/tmp.js';

function configDir(config: object): string {
  const d = tempDir();
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  return d;
}

describe('docker config credentials', () => {
  it('reads auths by host, URL key and Docker Hub alias', async () => {
    const d = configDir({ auths: { 'reg.example:5000': { auth: Buffer.from('u:p:with:colons').toString('base64') }, 'https://index.docker.io/v1/': { username: 'hub', password: 'pw' } } });
    const creds = dockerCredentials({ DOCKER_CONFIG: d });
    expect(await creds('reg.example:5000')).toEqual({ username: 'u', password: 'p:with:colons', source: join(d, 'config.json') });
    expect(await creds('docker.io')).toMatchObject({ username: 'hub', password: 'pw' });
    expect(await creds('other.example')).toBeUndefined();
  });

  it('runs a credential helper with the helper protocol (server URL on stdin)', async () => {
    const bin = tempDir();
    const log = join(bin, 'stdin.log');
    writeFileSync(join(bin, 'docker-credential-test'), `#!/bin/sh\n[ "$1" = get ] || exit 3\ncat > ${log}\necho '{"ServerURL":"x","Username":"helper-user","Secret":"helper-secret"}'\n`);
    chmodSync(join(bin, 'docker-credential-test'), 0o755);
    const d = configDir({ credHelpers: { 'reg.example': 'test' } });
    const creds = dockerCredentials({ DOCKER_CONFIG: d });
    const old = process.env.PATH;
    process.env.PATH = `${bin}:${old ?? ''}`;
    try {
      expect(await creds('reg.example')).toEqual({ username: 'helper-user', password: 'helper-secret', source: 'the credential helper docker-credential-test' });
    } finally {
      process.env.PATH = old;
    }
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(log, 'utf8')).toBe('reg.example');
  });

  it('reports a missing helper clearly', async () => {
    const d = configDir({ credsStore: 'does-not-exist' });
    await expect(dockerCredentials({ DOCKER_CONFIG: d })('x.example')).rejects.toThrow(/docker-credential-does-not-exist/);
  });

  it('takes OCIMAKE_REGISTRY_AUTH first, for hosts that cannot write a config file', async () => {
    const d = configDir({ auths: { 'r.example': { username: 'file', password: 'f' } } });
    const env = { DOCKER_CONFIG: d, OCIMAKE_REGISTRY_AUTH: JSON.stringify({ auths: { 'r.example': { username: 'env', password: 'e' } } }) };
    expect(await dockerCredentials(env)('r.example')).toEqual({ username: 'env', password: 'e', source: 'OCIMAKE_REGISTRY_AUTH' });
    await expect(dockerCredentials({ OCIMAKE_REGISTRY_AUTH: '{bad' })('r.example')).rejects.toThrow(/not valid JSON/);
  });

  it('reads GitLab CI\'s DOCKER_AUTH_CONFIG', async () => {
    const env = { DOCKER_CONFIG: tempDir(), DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'registry.gitlab.example': { auth: Buffer.from('gitlab-ci-token:t0k').toString('base64') } } }) };
    expect(await dockerCredentials(env)('registry.gitlab.example')).toEqual({ username: 'gitlab-ci-token', password: 't0k', source: 'DOCKER_AUTH_CONFIG' });
  });

  it('treats a missing config file as anonymous', async () => {
    const d = tempDir();
    mkdirSync(join(d, 'empty'));
    expect(await dockerCredentials({ DOCKER_CONFIG: join(d, 'empty') })('r.example')).toBeUndefined();
  });
});
