import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OcimakeError } from '../errors.js';
import { DOCKER_HUB } from '../oci/reference.js';

/** Credentials for one registry. `identityToken` is an OAuth2 refresh token. */
export interface Credentials {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
  /** Where they were found, for error hints: a variable, a file or a credential helper. */
  source?: string;
}

/** Finds credentials for a registry host; returns undefined for anonymous access. */
export type CredentialSource = (registry: string) => Promise<Credentials | undefined>;

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** The docker config file: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

// Keys in `auths` may be URLs (https://index.docker.io/v1/) or bare hosts.
function keyHost(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, '');
  k = k.split('/')[0] ?? k;
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') return DOCKER_HUB;
  return k;
}

/**
 * Credentials as Docker finds them: OCIMAKE_REGISTRY_AUTH or DOCKER_AUTH_CONFIG (docker
 * config JSON in the environment, for hosts that cannot write a config file, as GitLab CI
 * passes it), then the docker config's `credHelpers`, `auths` and
 * `credsStore`, running `docker-credential-<name> get` with the helper protocol.
 */
export function dockerCredentials(env: NodeJS.ProcessEnv = process.env): CredentialSource {
  let configPromise: Promise<DockerConfig> | undefined;
  const load = (): Promise<DockerConfig> => (configPromise ??= readConfig(dockerConfigPath(env)));
  return async (registry) => {
    const fromEnv = envCredentials(env, registry);
    if (fromEnv) return fromEnv;
    const cfg = await load();
    const helper = Object.entries(cfg.credHelpers ?? {}).find(([k]) => keyHost(k) === registry)?.[1];
    if (helper) return runHelper(helper, registry);
    const entry = Object.entries(cfg.auths ?? {}).find(([k]) => keyHost(k) === registry)?.[1];
    if (entry && (entry.auth || entry.username || entry.identitytoken || entry.registrytoken)) return { ...fromAuthEntry(entry, registry), source: dockerConfigPath(env) };
    if (cfg.credsStore) return runHelper(cfg.credsStore, registry);
    return undefined;
  };
}

function envCredentials(env: NodeJS.ProcessEnv, registry: string): Credentials | undefined {
  for (const name of ['OCIMAKE_REGISTRY_AUTH', 'DOCKER_AUTH_CONFIG'] as const) {
    const found = envVarCredentials(env, name, registry);
    if (found) return found;
  }
  return undefined;
}

// OCIMAKE_REGISTRY_AUTH, and GitLab CI's DOCKER_AUTH_CONFIG: a docker config's JSON (or just its `auths`).
function envVarCredentials(env: NodeJS.ProcessEnv, name: 'OCIMAKE_REGISTRY_AUTH' | 'DOCKER_AUTH_CONFIG', registry: string): Credentials | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  let parsed: DockerConfig;
  try {
    const j = JSON.parse(raw) as DockerConfig | DockerConfig['auths'];
    parsed = j && typeof j === 'object' && 'auths' in j ? (j as DockerConfig) : { auths: j as DockerConfig['auths'] };
  } catch (err) {
    throw new OcimakeError('CONFIG_INVALID', `${name} is not valid JSON`, { cause: err, hint: 'set it to {"auths":{"host":{"username":"u","password":"p"}}}' });
  }
  const entry = Object.entries(parsed.auths ?? {}).find(([k]) => keyHost(k) === registry)?.[1];
  return entry ? { ...fromAuthEntry(entry, registry), source: name } : undefined;
}

async function readConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch {
    return {};
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (err) {
    throw new OcimakeError('CONFIG_INVALID', `${path} is not valid JSON`, { cause: err, hint: 'fix or remove the docker config file' });
  }
}

function fromAuthEntry(e: NonNullable<DockerConfig['auths']>[string], registry: string): Credentials {
  const out: Credentials = {};
  if (e.auth) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw new OcimakeError('CONFIG_INVALID', `the "auth" for ${registry} in the docker config is not base64 of user:password`);
    out.username = decoded.slice(0, i);
    out.password = decoded.slice(i + 1);
  }
  if (e.username) out.username = e.username;
  if (e.password) out.password = e.password;
  if (e.identitytoken) out.identityToken = e.identitytoken;
  if (e.registrytoken) out.registryToken = e.registrytoken;
  return out;
}

/** Runs `docker-credential-<name> get`, writing the server URL on stdin. */
export function runHelper(name: string, registry: string): Promise<Credentials | undefined> {
  const bin = `docker-credential-${name}`;
  const server = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      reject(new OcimakeError('CREDENTIAL_HELPER', `credential helper ${bin} could not be run: ${e.message}`, { cause: e, hint: `install ${bin} on PATH or remove it from the docker config` })),
    );
    child.on('close', (code) => {
      if (code !== 0) {
        if (/credentials not found/i.test(out + err)) return resolve(undefined);
        return reject(new OcimakeError('CREDENTIAL_HELPER', `${bin} get failed for ${server}: ${(out + err).trim()}`));
      }
      try {
        const j = JSON.parse(out) as { Username?: string; Secret?: string };
        const source = `the credential helper ${bin}`;
        if (j.Username === '<token>') return resolve({ identityToken: j.Secret ?? '', source });
        resolve({ username: j.Username ?? '', password: j.Secret ?? '', source });
      } catch (e) {
        reject(new OcimakeError('CREDENTIAL_HELPER', `${bin} get printed invalid JSON`, { cause: e }));
      }
    });
    child.stdin.end(server);
  });
}
