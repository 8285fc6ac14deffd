import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { AuthOptions } from './auth.js';
import { createRegistryServer, type Stats } from './server.js';
import { FsBackend } from './storage/fs.js';
import { MemoryBackend } from './storage/memory.js';
import { RegistryStore } from './store.js';
import type { UploadLimits } from './sessions.js';

// The embedded OCI distribution registry: `startRegistry()` for tests and embedding,
// `ocimake registry serve` on the command line.

export interface RegistryOptions {
  /** Directory storage (crash-safe); in memory when absent. */
  root?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** One line per request when given. */
  log?: (line: string) => void;
  auth?: AuthOptions;
  /** Largest manifest accepted; default 4 MiB. */
  maxManifestBytes?: number;
  /** Largest blob accepted; default 1 GiB in memory, 64 GiB on disk. */
  maxBlobBytes?: number;
  tls?: { cert: string; key: string };
  /** DELETE of manifests and blobs; off by default, as in distribution. */
  deletes?: boolean;
  /** In memory: everything held at once (default 2 GiB); past it, uploads are refused. */
  maxMemoryBytes?: number;
  /** Open upload sessions at most (default 1,000), per user (default 100), and their idle lifetime (default 1 h); past a cap, new sessions are refused (TOOMANYREQUESTS). */
  maxUploads?: number;
  maxUploadsPerUser?: number;
  uploadTtlMs?: number;
}

export interface RunningRegistry {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** host:port, as image references name it. */
  host: string;
  close(): Promise<void>;
  stats: Stats;
  store: RegistryStore;
}

/** Starts the registry and resolves once it listens. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  if (opts.root) mkdirSync(opts.root, { recursive: true });
  const maxBlob = opts.maxBlobBytes ?? (opts.root ? 64 * 2 ** 30 : 2 ** 30);
  const limits: UploadLimits = {
    ...(opts.maxUploads !== undefined ? { maxUploads: opts.maxUploads } : {}),
    ...(opts.maxUploadsPerUser !== undefined ? { maxUploadsPerUser: opts.maxUploadsPerUser } : {}),
    ...(opts.uploadTtlMs !== undefined ? { uploadTtlMs: opts.uploadTtlMs } : {}),
  };
  const store = new RegistryStore(opts.root ? new FsBackend(opts.root) : new MemoryBackend(maxBlob, opts.maxMemoryBytes), maxBlob, limits);
  const { server, stats, close } = createRegistryServer({
    ...(opts.deletes ? { deletes: true } : {}),
    store,
    maxManifestBytes: opts.maxManifestBytes ?? 4 * 2 ** 20,
    ...(opts.auth ? { auth: opts.auth } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
  });
  const hostName = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, hostName, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const hostPart = hostName.includes(':') ? `[${hostName}]` : hostName;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${hostPart}:${port}`,
    host: `${hostPart}:${port}`,
    stats,
    store,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await close();
    },
  };
}

export type { AuthOptions } from './auth.js';
export { exportLayout } from './export.js';
export { RegistryStore } from './store.js';
