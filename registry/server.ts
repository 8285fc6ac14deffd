import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { Authenticator, type Action, type AuthOptions } from './auth.js';
import { handleBlob, type BlobStats } from './blobs.js';
import { RegistryError } from './errors.js';
import { nextLink, paginate, send, sendJson } from './http-util.js';
import { handleManifest, handleReferrers } from './manifests.js';
import { checkName } from './names.js';
import type { RegistryStore } from './store.js';
import { handleUpload, startUpload } from './uploads.js';

export interface ServerOptions {
  store: RegistryStore;
  auth?: AuthOptions;
  log?: (line: string) => void;
  maxManifestBytes: number;
  tls?: { cert: string; key: string };
  /** DELETE of manifests and blobs (off by default, as in distribution). */
  deletes?: boolean;
}

export interface Stats extends BlobStats { requests: number; /** Upload sessions and monolithic uploads started (POST …/blobs/uploads/). */ uploads: number }

type Route = { re: RegExp; handle: (ctx: Ctx, m: RegExpExecArray) => Promise<void>; action?: (method: string) => Action; repo?: boolean };
interface Ctx {
  req: IncomingMessage; res: ServerResponse; url: URL; opts: ServerOptions; stats: Stats;
  /** May the caller pull this repository? (always true without auth) */
  canPull: (repo: string) => boolean;
  /** Who owns what this request opens (upload sessions): the user, or the client's address without auth. */
  owner: string;
}

const readOrWrite = (method: string): Action => (method === 'GET' || method === 'HEAD' ? 'pull' : 'push');

// Repository names may contain `/`, so each pattern anchors on the last fixed segment.
const ROUTES: Route[] = [
  { re: /^\/v2\/?$/, handle: async ({ res }) => sendJson(res, 200, {}) },
  {
    re: /^\/v2\/_catalog$/,
    handle: async (ctx) => {
      const { res, url, opts } = ctx;
      // Only what the caller may pull, as distribution's token-scoped catalog does.
      const page = paginate((await opts.store.repositories()).filter((r) => ctx.canPull(r)), url);
      sendJson(res, 200, { repositories: page.items }, page.next ? { link: nextLink('/v2/_catalog', Number(url.searchParams.get('n')), page.next) } : {});
    },
  },
  {
    re: /^\/v2\/(.+)\/tags\/list$/, repo: true, action: () => 'pull',
    handle: async ({ res, url, opts }, m) => {
      const repo = m[1]!;
      const tags = await opts.store.tags(repo);
      if (tags.length === 0 && !(await opts.store.repoExists(repo))) throw new RegistryError('NAME_UNKNOWN', `repository ${repo} is not known`);
      const page = paginate(tags, url);
      sendJson(res, 200, { name: repo, tags: page.items }, page.next ? { link: nextLink(`/v2/${repo}/tags/list`, Number(url.searchParams.get('n')), page.next) } : {});
    },
  },
  { re: /^\/v2\/(.+)\/manifests\/([^/]+)$/, repo: true, action: readOrWrite, handle: async ({ req, res, opts }, m) => handleManifest(req, res, opts.store, m[1]!, m[2]!, opts.maxManifestBytes) },
  { re: /^\/v2\/(.+)\/blobs\/uploads\/?$/, repo: true, action: () => 'push', handle: async (ctx, m) => { const { req, res, opts, url } = ctx; if (req.method !== 'POST') throw new RegistryError('UNSUPPORTED', 'POST starts an upload', { status: 405 }); ctx.stats.uploads++; await startUpload(req, res, opts.store, m[1]!, url, ctx.canPull, ctx.owner); } },
  { re: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, repo: true, action: () => 'push', handle: async ({ req, res, opts, url, owner }, m) => handleUpload(req, res, opts.store, m[1]!, m[2]!, url, owner) },
  { re: /^\/v2\/(.+)\/blobs\/([^/]+)$/, repo: true, action: readOrWrite, handle: async ({ req, res, opts, stats }, m) => handleBlob(req, res, opts.store, m[1]!, m[2]!, stats) },
  { re: /^\/v2\/(.+)\/referrers\/([^/]+)$/, repo: true, action: () => 'pull', handle: async ({ res, opts, url }, m) => handleReferrers(res, opts.store, m[1]!, m[2]!, url) },
];

/** Creates the HTTP(S) server of the registry; `stats` counts requests and blob downloads. */
export function createRegistryServer(opts: ServerOptions): { server: Server; stats: Stats; close: () => Promise<void> } {
  const stats: Stats = { requests: 0, uploads: 0, blobGets: 0, blobGetsByDigest: new Map() };
  const auth = opts.auth ? new Authenticator(opts.auth) : undefined;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const started = Date.now();
    const host = req.headers.host ?? 'localhost';
    const baseUrl = `${opts.tls ? 'https' : 'http'}://${host}`;
    const url = new URL(req.url ?? '/', baseUrl);
    res.setHeader('docker-distribution-api-version', 'registry/2.0');
    void dispatch({ req, res, url, opts, stats, canPull: () => true, owner: `address:${req.socket.remoteAddress ?? 'unknown'}` }, auth, baseUrl)
      .catch((err: unknown) => fail(res, err, opts.log))
      .finally(() => opts.log?.(`${req.method} ${url.pathname}${url.search} ${res.statusCode} ${Date.now() - started}ms`));
  };
  const server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) }, handler)
    : createHttpServer(handler);
  return { server, stats, close: async () => auth?.close() };
}

async function dispatch(ctx: Ctx, auth: Authenticator | undefined, baseUrl: string): Promise<void> {
  const { req, res, url } = ctx;
  if (auth && url.pathname === '/token' && auth.realm === 'token') {
    const user = await auth.basicUser(req.headers.authorization);
    if (!user) throw new RegistryError('UNAUTHORIZED', 'token endpoint needs valid credentials', { detail: { challenge: `Basic realm="${auth.service}"` } });
    return sendJson(res, 200, auth.issue(user, url.searchParams.getAll('scope').flatMap((s) => s.split(' '))));
  }
  for (const route of ROUTES) {
    const m = route.re.exec(url.pathname);
    if (!m) continue;
    // The name is checked as sent: a percent-encoded character is not part of the grammar.
    const repo = route.repo ? checkName(m[1]!) : undefined;
    const user = auth ? await auth.check(req, baseUrl, repo, route.action ? route.action(req.method ?? 'GET') : 'pull') : undefined;
    if (auth && user !== undefined) {
      ctx.canPull = (r) => auth.allowed(user, r, 'pull');
      ctx.owner = `user:${user}`;
    }
    if (req.method === 'DELETE' && !ctx.opts.deletes && !/\/blobs\/uploads\//.test(url.pathname)) {
      req.resume();
      throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry', { status: 405 });
    }
    return route.handle(ctx, m);
  }
  throw new RegistryError('NAME_UNKNOWN', `no such endpoint: ${url.pathname.slice(0, 200)}`, { status: 404 });
}

function fail(res: ServerResponse, err: unknown, log?: (line: string) => void): void {
  // Anything but a RegistryError is a bug: it is logged here, and the client learns nothing
  // of the internals (no paths, no stack).
  if (!(err instanceof RegistryError)) log?.(`internal error: ${(err as Error)?.stack ?? String(err)}`);
  const e = err instanceof RegistryError ? err : new RegistryError('UNKNOWN', 'internal error', { status: 500 });
  if (res.headersSent) { res.destroy(); return; }
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const detail = e.detail as { challenge?: string } | undefined;
  if (detail?.challenge) headers['www-authenticate'] = detail.challenge;
  const body = detail?.challenge ? new RegistryError(e.code, e.message, { status: e.status }).body() : e.body();
  send(res, e.status, headers, body);
}
