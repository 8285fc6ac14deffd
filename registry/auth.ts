import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { RegistryError } from './errors.js';
import { PasswordChecker } from './password-check.js';

/** Optional authentication of the embedded registry. */
export interface AuthOptions {
  /** An htpasswd file: `user:hash` lines, bcrypt ($2a$/$2b$/$2y$) or {SHA}. */
  htpasswd?: string;
  /** Users with plain passwords (tests, embedding). */
  users?: Record<string, string>;
  /** `basic` (default) answers 401 with a Basic challenge; `token` with a Bearer challenge and serves GET /token. */
  realm?: 'basic' | 'token';
  /** Per-user repository patterns (`*` matches any run of characters) for pull and push; everything when absent. */
  permissions?: Record<string, { pull?: string[]; push?: string[] }>;
}

export type Action = 'pull' | 'push';

interface TokenClaims { sub: string; access: { name: string; actions: Action[] }[]; exp: number }

/** Checks credentials and permissions; issues and verifies Bearer tokens. */
export class Authenticator {
  readonly #users = new Map<string, string>();
  readonly #secret = randomBytes(32);
  readonly #passwords = new PasswordChecker();

  constructor(readonly opts: AuthOptions, readonly service = 'ocimake-registry') {
    for (const [u, p] of Object.entries(opts.users ?? {})) this.#users.set(u, `plain:${p}`);
    if (opts.htpasswd) {
      for (const line of readFileSync(opts.htpasswd, 'utf8').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i > 0) this.#users.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
      }
    }
  }

  get realm(): 'basic' | 'token' {
    return this.opts.realm ?? 'basic';
  }

  /** The user named by valid Basic credentials, or undefined. The scheme is case-insensitive (RFC 7617). */
  async basicUser(header: string | undefined): Promise<string | undefined> {
    const m = /^basic\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return undefined;
    const user = decoded.slice(0, i);
    const ok = await this.#passwords.check(user, decoded.slice(i + 1), this.#users.get(user));
    return ok ? user : undefined;
  }

  async close(): Promise<void> {
    await this.#passwords.close();
  }

  allowed(user: string, repo: string, action: Action): boolean {
    const perms = this.opts.permissions;
    if (!perms) return true;
    const p = perms[user] ?? perms['*'];
    const patterns = (action === 'pull' ? [...(p?.pull ?? []), ...(p?.push ?? [])] : p?.push) ?? [];
    return patterns.some((pat) => new RegExp(`^${pat.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(repo));
  }

  /** Issues a token for the requested scopes (`repository:NAME:pull,push`), granting only what `user` may do. */
  issue(user: string, scopes: string[]): { token: string; access_token: string; expires_in: number; issued_at: string } {
    const access: TokenClaims['access'] = [];
    for (const scope of scopes) {
      const m = /^repository:([^:]+):(.+)$/.exec(scope);
      if (!m) continue;
      const actions = m[2]!.split(',').filter((a): a is Action => (a === 'pull' || a === 'push') && this.allowed(user, m[1]!, a));
      if (actions.length) access.push({ name: m[1]!, actions });
    }
    const claims: TokenClaims = { sub: user, access, exp: Math.floor(Date.now() / 1000) + 300 };
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const token = `${body}.${this.#sign(body)}`;
    return { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() };
  }

  /** The claims of a valid, unexpired Bearer token, or undefined. */
  bearer(header: string | undefined): TokenClaims | undefined {
    const m = /^bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return undefined;
    const [body, sig] = m[1]!.split('.');
    if (!body || !sig) return undefined;
    const want = Buffer.from(this.#sign(body));
    const got = Buffer.from(sig);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
    return claims.exp > Date.now() / 1000 ? claims : undefined;
  }

  #sign(body: string): string {
    return createHmac('sha256', this.#secret).update(body).digest('base64url');
  }

  /**
   * Authorises a request for `repo`/`action` (no repo: any authenticated user) and returns
   * who asked. Throws UNAUTHORIZED (with the challenge to send) or DENIED.
   */
  async check(req: IncomingMessage, baseUrl: string, repo: string | undefined, action: Action): Promise<string> {
    const header = req.headers.authorization;
    const scope = repo ? `repository:${repo}:${action === 'push' ? 'pull,push' : 'pull'}` : undefined;
    if (this.realm === 'token') {
      const claims = this.bearer(header);
      if (claims && (!repo || claims.access.some((a) => a.name === repo && a.actions.includes(action)))) return claims.sub;
      const challenge = `Bearer realm="${baseUrl}/token",service="${this.service}"${scope ? `,scope="${scope}"` : ''}`;
      // Too narrow a token gets a fresh challenge (RFC 6750 insufficient_scope), so clients ask again.
      if (claims) throw new RegistryError('UNAUTHORIZED', `token does not grant ${action} on ${repo}`, { detail: { challenge: `${challenge},error="insufficient_scope"` } });
      throw new RegistryError('UNAUTHORIZED', 'authentication required', { detail: { challenge } });
    }
    const user = await this.basicUser(header);
    if (!user) throw new RegistryError('UNAUTHORIZED', 'authentication required', { detail: { challenge: `Basic realm="${this.service}"` } });
    if (repo && !this.allowed(user, repo, action)) throw new RegistryError('DENIED', `${user} may not ${action} ${repo}`);
    return user;
  }
}
