import { tempPathBeside } from '../../util/temp-files.js';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { Cache } from '../../store/cache.js';
import { OcimakeError } from '../../errors.js';
import { RegistryClient, type TransportOptions } from '../../remote/transport.js';

/**
 * A fetch that failed in a way apk-tools calls the repository unavailable (it warns and uses the
 * others): `why` is apk's words for it.
 */
export class ApkFetchFailed extends OcimakeError {
  constructor(code: 'APK_FETCH' | 'NETWORK', message: string, opts: { hint: string; cause?: unknown }, readonly why: string) {
    super(code, message, opts);
  }
}

/** apk-tools' words for an HTTP status it could not use. */
function statusWords(status: number): string {
  return status === 404 ? 'No such file or directory' : status === 401 || status === 403 ? 'Permission denied' : `HTTP ${status}`;
}

/** apk-tools' words for a connection that failed: from the system error below the transport's. */
function networkWords(err: unknown): string {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 'ECONNREFUSED') return 'Connection refused';
    if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return 'DNS lookup error';
  }
  return 'network error';
}

const INDEX_LIMIT = 64 * 1024 * 1024;
const INDEX_FORMAT = 'ocimake-apk-index-v1';
const IndexMeta = z.object({ format: z.literal(INDEX_FORMAT), etag: z.string().optional(), lastModified: z.string().optional() });
const PACKAGE_LIMIT = 1024 * 1024 * 1024;

/**
 * Fetches apk repository files over the same HTTP stack as registries (retries, resumable
 * reads, bounded bodies). Indexes are cached by URL in the cache dir and revalidated with a
 * conditional GET; packages are cached by their index checksum.
 */
export class ApkFetcher {
  readonly #clients = new Map<string, RegistryClient>();
  /** `offline`: a RUN --network=none, where every fetch fails as apk's does without a network. */
  constructor(readonly cache: Cache, readonly transport: TransportOptions = {}, readonly offline = false) {}

  #client(url: URL): RegistryClient {
    let c = this.#clients.get(url.origin);
    if (!c) {
      c = new RegistryClient(url.host, { ...this.transport, scheme: url.protocol === 'http:' ? 'http' : 'https' });
      this.#clients.set(url.origin, c);
    }
    return c;
  }

  async #get(url: string, limit: number, what: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Buffer; headers: Record<string, string> }> {
    let u: URL;
    try { u = new URL(url); } catch { throw new OcimakeError('APK_REPOSITORY', `"${url}" is not a repository URL`, { hint: 'write repositories as http(s)://host/path, one per line in /etc/apk/repositories' }); }
    if (this.offline) throw new ApkFetchFailed('NETWORK', `${what}: ${url}: RUN --network=none has no network`, { hint: 'drop --network=none (or the build\'s --network none) for this RUN, or install the packages in a step that has the network' }, 'RUN --network=none has no network');
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new OcimakeError('APK_REPOSITORY', `${what}: only http and https repositories are fetched (${url})`, { hint: 'serve the repository over HTTP, or COPY the packages in' });
    let r: { status: number; bytes: Buffer; headers: Record<string, string> };
    try {
      r = await this.#client(u).requestBytes({ method: 'GET', path: url, scopes: [], headers }, limit, what);
    } catch (err) {
      // The transport's hint speaks of registries and image names: for a repository, say what helps.
      if (err instanceof OcimakeError && err.code === 'NETWORK') throw new ApkFetchFailed('NETWORK', err.message, { cause: err, hint: `check that ${u.host} is reachable from here (network, proxy), or fetch the repositories from a mirror that is: --apk-mirror URL (or OCIMAKE_APK_MIRROR)` }, networkWords(err));
      throw err;
    }
    if (r.status !== 200 && r.status !== 304) throw new ApkFetchFailed('APK_FETCH', `${what}: ${url} answered ${r.status}`, { hint: r.status === 404 ? 'the repository does not have it: check /etc/apk/repositories (or -X), the architecture, and run apk with -U' : 'check that the repository is reachable from here (or set --apk-mirror)' }, statusWords(r.status));
    return r;
  }

  async #cached(kind: string, id: string): Promise<{ body: string; meta: string }> {
    const h = createHash('sha256').update(id).digest('hex');
    const c = this.cache.keptPaths('apk', kind, h);
    await fs.mkdir(dirname(c.body), { recursive: true });
    return c;
  }

  async #store(path: string, data: Buffer | string): Promise<void> {
    const tmp = tempPathBeside(path);
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, path);
  }

  /** An APKINDEX.tar.gz: from the cache when the server says it has not changed. */
  async index(url: string): Promise<Buffer> {
    const c = await this.#cached('index', url);
    const meta = await this.cache.readRecord(c.meta, IndexMeta);
    const cached = meta ? await fs.readFile(c.body).catch(() => undefined) : undefined;
    const headers: Record<string, string> = {};
    if (cached && meta?.etag) headers['if-none-match'] = meta.etag;
    if (cached && meta?.lastModified) headers['if-modified-since'] = meta.lastModified;
    const r = await this.#get(url, INDEX_LIMIT, 'APKINDEX', headers);
    if (r.status === 304 && cached) return cached;
    await this.#store(c.body, r.bytes);
    await this.cache.writeRecord(c.meta, { format: INDEX_FORMAT, ...(r.headers.etag ? { etag: r.headers.etag } : {}), ...(r.headers['last-modified'] ? { lastModified: r.headers['last-modified'] } : {}) });
    return r.bytes;
  }

  /** A package, checked by `check` before it is cached (by checksum); a cached copy that fails is fetched again. */
  async package<T>(url: string, checksum: string, check: (bytes: Buffer) => Promise<T>): Promise<T> {
    const c = checksum ? await this.#cached('packages', checksum) : undefined;
    const hit = c ? await fs.readFile(c.body).catch(() => undefined) : undefined;
    if (hit) {
      try { return await check(hit); } catch { await fs.rm(c!.body, { force: true }); }
    }
    const r = await this.#get(url, PACKAGE_LIMIT, url.slice(url.lastIndexOf('/') + 1));
    const out = await check(r.bytes);
    if (c) await this.#store(c.body, r.bytes);
    return out;
  }
}
