import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { Cache } from '../store/cache.js';
import { mkdirp } from '../util/fs-paths.js';
import { tempPathBeside } from '../util/temp-files.js';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { OcimakeError } from '../errors.js';
import { Sha256Counter } from '../oci/digest.js';
import { discard } from './bounded.js';
import { isTransient, networkError } from './retry.js';
import { limit, overLimit } from '../util/limits.js';
import { hasUrlCredentials, redactUrlCredentials } from '../util/redact.js';
import { isLoopbackHost } from '../oci/reference.js';
import { RegistryClient, type TransportOptions } from './transport.js';

// `ADD <url> <dest>`: the file is fetched over the registries' HTTP stack (retries with back-off,
// redirects, timeouts, TLS unchecked only on loopback or --insecure-registry hosts; no
// credentials are ever sent, not even the registry logins of the same host), written to
// the build's scratch directory and hashed as it arrives. As Docker and BuildKit do it: the file
// is not unpacked, its mode is 0600 unless --chmod, and with --checksum its digest must match.
// Its layer is keyed by its content, so a rebuild asks the server again (the file may have
// changed) but writes no layer when the bytes are the same; a file kept in the cache with its
// ETag or Last-Modified is asked for conditionally, and a 304 downloads nothing.

/** The server answered something other than the file (`status`: its HTTP status). */
export class FetchStatusError extends OcimakeError {
  constructor(readonly status: number, message: string, opts: { hint: string }) {
    super('ADD_FETCH', message, opts);
  }
}

/** A fetched file in the scratch directory. */
export interface FetchedUrl { path: string; size: number; digest: string }

/** What one fetch asks for: a checksum to compare, and the limit its size is held to (default urlFileSize; RUN's downloads are held in memory, so runFileSize). */
export interface FetchOptions { checksum?: string; limit?: 'urlFileSize' | 'runFileSize' }

export type UrlFetcher = (url: string, opts?: FetchOptions) => Promise<FetchedUrl>;

/** A build's fetcher, which also lists what it downloaded (for provenance): each URL, its user-info redacted, with its digest. */
export interface BuildUrlFetcher extends UrlFetcher { downloads(): { uri: string; digest: string }[] }

/** True for the git sources ADD names (git@host:repo, git://, ssh://, or a URL ending in .git[#ref]). */
export function isGitSource(src: string): boolean {
  return /^(git@|git:\/\/|ssh:\/\/)/.test(src) || /^https?:\/\/[^#]+\.git(#.*)?$/.test(src);
}

/** True for http(s) URLs. */
export function isUrlSource(src: string): boolean {
  return /^https?:\/\//i.test(src);
}

/** The file name a URL gives (the last segment of its path), or undefined when it has none. */
export function urlFileName(url: string): string | undefined {
  let path: string;
  try { path = new URL(url).pathname; } catch { return undefined; }
  const last = path.split('/').pop() ?? '';
  let name: string;
  try { name = decodeURIComponent(last); } catch { name = last; }
  return name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') ? undefined : name;
}

const ALGOS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/** Checks an ADD --checksum value (`sha256:<hex>`, or sha384/sha512). */
export function parseChecksum(spec: string): { algo: string; hex: string } {
  const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(spec);
  if (!m || m[2]!.length !== ALGOS[m[1]!]) {
    throw new OcimakeError('DOCKERFILE_INVALID', `invalid --checksum value "${spec}"`, { hint: 'give the digest of the file as sha256:<64 hex digits> (or sha384:, sha512:)' });
  }
  return { algo: m[1]!, hex: m[2]! };
}

/**
 * A fetcher writing into `scratch`; each URL is fetched once per build. With `cacheDir`, a file
 * the server gave a validator for (ETag, Last-Modified) is kept in `<cacheDir>/urls/`, and the
 * next build asks for it conditionally: a 304 takes the kept copy (hashed again first).
 */
export function urlFetcher(scratch: string, transport: TransportOptions = {}, cache?: Cache): BuildUrlFetcher {
  const clients = new Map<string, RegistryClient>();
  const fetched = new Map<string, Promise<FetchedUrl>>();
  let n = 0;
  const client = (u: URL): RegistryClient => {
    let c = clients.get(u.origin);
    if (!c) clients.set(u.origin, (c = new RegistryClient(u.host, { ...transport, scheme: u.protocol === 'http:' ? 'http' : 'https' })));
    return c;
  };
  const done: { uri: string; digest: string }[] = [];
  const fetcher = async (url: string, opts: FetchOptions = {}): Promise<FetchedUrl> => {
    const checksum = opts.checksum;
    const limitName = opts.limit ?? 'urlFileSize';
    const key = `${limitName} ${url}`;
    let got = fetched.get(key);
    if (!got) {
      checkCredentialsSafe(url);
      got = fetchTo(client(new URL(url)), url, join(scratch, `url-${n++}`), cache ? kept(cache, url) : undefined, limitName);
      fetched.set(key, got);
      void got.then((f) => done.push({ uri: redactUrlCredentials(url), digest: f.digest }), () => {});
    }
    const file = await got;
    if (checksum !== undefined) {
      const want = parseChecksum(checksum);
      const hex = want.algo === 'sha256' ? file.digest.slice('sha256:'.length) : await digestOf(file.path, want.algo);
      if (hex !== want.hex) {
        throw new OcimakeError('CHECKSUM_MISMATCH', `ADD ${redactUrlCredentials(url)}: the file's ${want.algo} is ${want.algo}:${hex}, not ${checksum}`, { hint: 'the file changed on the server, or the --checksum is wrong: check where the digest came from' });
      }
    }
    return file;
  };
  return Object.assign(fetcher, { downloads: () => [...new Map(done.map((d) => [`${d.uri} ${d.digest}`, d])).values()] });
}

/**
 * Credentials written in the URL are sent as Basic auth, as curl, wget and BuildKit send them,
 * to that host only (never across a redirect to another); over plain HTTP they would cross
 * the network readable, so that is refused unless the host is this machine.
 */
function checkCredentialsSafe(url: string): void {
  if (!hasUrlCredentials(url)) return;
  const u = new URL(url);
  if (u.protocol === 'http:' && !isLoopbackHost(u.host)) {
    throw new OcimakeError('CREDENTIALS_INSECURE', `${redactUrlCredentials(url)}: the URL carries credentials, and plain HTTP would send them readable to ${u.host}`, {
      hint: 'use https://, or download the file before the build and COPY it; for a secret, use RUN --mount=type=secret',
    });
  }
}

async function digestOf(path: string, algo: string): Promise<string> {
  const h = createHash(algo);
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Where a URL's kept copy and its validators are. */
interface Kept { body: string; meta: string; cache: Cache }
const URL_FORMAT = 'ocimake-url-v1';
const KeptMeta = z.object({ format: z.literal(URL_FORMAT), etag: z.string().optional(), lastModified: z.string().optional(), digest: z.string(), size: z.number().int().nonnegative() });

function kept(cache: Cache, url: string): Kept {
  const h = createHash('sha256').update(url).digest('hex');
  return { ...cache.keptPaths('urls', h.slice(0, 2), h), cache };
}

/** The kept copy's validators, when the copy is whole (its size as recorded). */
async function keptMeta(k: Kept): Promise<z.infer<typeof KeptMeta> | undefined> {
  const m = await k.cache.readRecord(k.meta, KeptMeta);
  const size = await fs.stat(k.body).then((st) => st.size, () => -1);
  return m && size === m.size ? m : undefined;
}

/** GETs `url` into `path`, hashing it; a body cut off midway is fetched again within the retry budget. */
async function fetchTo(c: RegistryClient, url: string, path: string, k: Kept | undefined, limitName: 'urlFileSize' | 'runFileSize'): Promise<FetchedUrl> {
  const budget = c.budget();
  const shown = redactUrlCredentials(url);
  const max = limit(limitName);
  const tooBig = (what: string) => overLimit(limitName, `${shown}: ${what}`, limitName === 'runFileSize'
    ? 'RUN holds a download in memory; ADD <url> streams large files to disk'
    : 'the server sends more than expected (an endless or wrong answer)');
  const have = k ? await keptMeta(k) : undefined;
  const headers: Record<string, string> = {};
  if (have?.etag) headers['if-none-match'] = have.etag;
  if (have?.lastModified) headers['if-modified-since'] = have.lastModified;
  for (;;) {
    const res = await c.request({ method: 'GET', path: url, scopes: [], budget, anonymous: true, headers });
    if (res.status === 304 && have && k) {
      await discard(res.body);
      await fs.link(k.body, path).catch(() => fs.copyFile(k.body, path));
      const digest = `sha256:${await digestOf(path, 'sha256')}`;
      if (digest === have.digest) {
        const now = new Date();
        await fs.utimes(k.body, now, now).catch(() => {}); // used, for `cache prune`
        return { path, size: have.size, digest };
      }
      // The kept copy was damaged: fetched again, without conditions.
      await fs.rm(path, { force: true });
      for (const h of Object.keys(headers)) delete headers[h];
      continue;
    }
    if (res.status !== 200) {
      await discard(res.body);
      throw new FetchStatusError(res.status, `ADD ${shown}: the server answered ${res.status}`, {
        hint: res.status === 404 ? 'check the URL: the server has no such file'
          : res.status === 401 || res.status === 403 ? 'ADD sends no credentials (as BuildKit): download the file into the build context and COPY it'
            : 'check that the server is reachable from here and serves the file',
      });
    }
    // Refused before a byte is read when the server says how long it is, cut off when it passes the limit otherwise.
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      await discard(res.body);
      throw tooBig(`the server says the file is ${declared} bytes`);
    }
    const h = new Sha256Counter();
    const count = new Transform({
      transform(chunk: Buffer, _e, cb) {
        h.update(chunk);
        if (h.size > max) return cb(tooBig(`the server sent more than ${max} bytes`));
        cb(null, chunk);
      },
    });
    try {
      await pipeline(res.body, count, createWriteStream(path, { mode: 0o600 }));
    } catch (err) {
      await fs.rm(path, { force: true });
      if (err instanceof OcimakeError) throw err;
      if (isTransient(err) && (await budget.wait())) continue;
      throw networkError(`ADD ${shown}`, err, budget, 'check that the server is reachable from here');
    }
    const got = { path, size: h.size, digest: h.digest() };
    const etag = res.headers.etag;
    const lastModified = res.headers['last-modified'];
    if (k && (etag || lastModified)) await keep(k, got, { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) });
    return got;
  }
}

/** Keeps a fetched file and its validators (each written whole, then renamed into place). */
async function keep(k: Kept, got: FetchedUrl, validators: { etag?: string; lastModified?: string }): Promise<void> {
  await mkdirp(dirname(k.body));
  const tmp = tempPathBeside(k.body);
  await fs.link(got.path, tmp).catch(() => fs.copyFile(got.path, tmp));
  await fs.rename(tmp, k.body);
  await k.cache.writeRecord(k.meta, { format: URL_FORMAT, ...validators, digest: got.digest, size: got.size });
}
