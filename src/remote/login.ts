import { mkdirp } from '../util/fs-paths.js';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { OcimakeError } from '../errors.js';
import { DOCKER_HUB } from '../oci/reference.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { dockerConfigPath } from './credentials.js';
import { discard } from './bounded.js';
import { RegistryClient, registryError, type TransportOptions } from './transport.js';

// `ocimake login` and `ocimake logout`: what `docker login` writes, so docker, buildah,
// skopeo, crane and ocimake all find the same credentials.

interface ConfigFile {
  auths?: Record<string, Record<string, unknown>>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

/** The registry host a login names (`docker.io` when none), and the `auths` key docker uses for it. */
export function loginTarget(server: string | undefined): { registry: string; key: string } {
  let host = (server ?? DOCKER_HUB).trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
  if (host === '' || /\s/.test(host)) throw new OcimakeError('FLAG_INVALID', `"${server}" is not a registry host`, { hint: 'give a host, e.g. ghcr.io or registry.example.com:5000' });
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = DOCKER_HUB;
  return { registry: host, key: host === DOCKER_HUB ? 'https://index.docker.io/v1/' : host };
}

/** Checks the credentials against the registry (GET /v2/ through its auth flow), as docker login does. */
export async function verifyLogin(registry: string, username: string, password: string, transport: TransportOptions = {}): Promise<void> {
  const client = new RegistryClient(registry, { ...transport, credentials: async () => ({ username, password, source: 'the credentials given to ocimake login' }) });
  const refused = (message: string) => new OcimakeError('UNAUTHORIZED', `logging in to ${registry} failed: ${message}`, {
    hint: 'check the user name and password (many registries want an access token here, e.g. a GitHub token with write:packages for ghcr.io)',
  });
  let res;
  try {
    res = await client.request({ method: 'GET', path: '/v2/', scopes: [] });
  } catch (err) {
    if (err instanceof OcimakeError && (err.code === 'UNAUTHORIZED' || err.code === 'DENIED')) throw refused(err.message);
    throw err;
  }
  if (res.status === 200) { await discard(res.body); return; }
  throw await registryError(res, 'logging in', client);
}

async function readConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  try {
    const j = JSON.parse(text) as unknown;
    if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('not an object');
    return j as ConfigFile;
  } catch (err) {
    throw new OcimakeError('CONFIG_INVALID', `${path} is not valid JSON`, { cause: err, hint: 'fix or move the file; ocimake login would otherwise overwrite what is in it' });
  }
}

function helperFor(cfg: ConfigFile, registry: string, key: string): string | undefined {
  return cfg.credHelpers?.[key] ?? cfg.credHelpers?.[registry] ?? cfg.credsStore;
}

/**
 * Stores credentials where docker would: the credential helper the config names for the
 * host (or its `credsStore`), else `auths` in the config file (written atomically, 0600).
 * Returns where they went, for the message.
 */
export async function storeCredentials(server: string | undefined, username: string, password: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { registry, key } = loginTarget(server);
  const path = dockerConfigPath(env);
  const cfg = await readConfigFile(path);
  const helper = helperFor(cfg, registry, key);
  if (helper) {
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: password }));
    return `the credential helper docker-credential-${helper}`;
  }
  cfg.auths = { ...cfg.auths, [key]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } };
  await writeConfig(path, cfg);
  return path;
}

/** Removes stored credentials; returns false when there were none. */
export async function eraseCredentials(server: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const { registry, key } = loginTarget(server);
  const path = dockerConfigPath(env);
  const cfg = await readConfigFile(path);
  const helper = helperFor(cfg, registry, key);
  let erased = false;
  if (helper) erased = await runHelper(helper, 'erase', key).then(() => true, () => false);
  const keys = Object.keys(cfg.auths ?? {}).filter((k) => loginTarget(k).registry === registry);
  if (keys.length > 0) {
    for (const k of keys) delete cfg.auths![k];
    await writeConfig(path, cfg);
    erased = true;
  }
  return erased;
}

async function writeConfig(path: string, cfg: ConfigFile): Promise<void> {
  await mkdirp(dirname(path), 0o700);
  await writeFileAtomic(path, `${JSON.stringify(cfg, null, '\t')}\n`, 0o600);
}

function runHelper(name: string, action: 'store' | 'erase', input: string): Promise<void> {
  const bin = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (e) => reject(new OcimakeError('CREDENTIAL_HELPER', `credential helper ${bin} could not be run: ${e.message}`, { cause: e, hint: `install ${bin} on PATH, or remove "credsStore"/"credHelpers" from the docker config` })));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new OcimakeError('CREDENTIAL_HELPER', `${bin} ${action} failed: ${out.trim().slice(0, 300)}`))));
    child.stdin.end(input);
  });
}
