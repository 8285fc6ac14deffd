import { randomUUID } from 'node:crypto';
import { RegistryError } from './errors.js';

// Upload sessions are the registry's state shared between users, so each one belongs to the
// user who opened it (another user, even one with push on the same repository, is told it is
// unknown), the caps are counted per user as well as in all, and a full cap refuses the new
// session (TOOMANYREQUESTS) instead of evicting someone else's half-done upload. One request
// at a time works on a session: a PATCH while another PATCH or the finishing PUT is under way
// is refused, so nothing is written into an upload while it is hashed and published.

/** Caps on open upload sessions (defaults: 1,000 in all, 100 per user, 1 h idle). */
export interface UploadLimits {
  maxUploads?: number;
  maxUploadsPerUser?: number;
  uploadTtlMs?: number;
}

/** What a request is doing to a session. */
type Work = 'append' | 'finish';

interface Session { repo: string; owner: string; at: number; busy?: Work }

/** The open upload sessions, oldest use first. */
export class UploadSessions {
  readonly #sessions = new Map<string, Session>();
  readonly #perUser = new Map<string, number>();
  readonly #max: number;
  readonly #maxPerUser: number;
  readonly #ttl: number;

  constructor(limits: UploadLimits = {}) {
    this.#max = limits.maxUploads ?? 1000;
    this.#maxPerUser = Math.min(limits.maxUploadsPerUser ?? 100, this.#max);
    this.#ttl = limits.uploadTtlMs ?? 3_600_000;
  }

  get size(): number { return this.#sessions.size; }

  /** Sessions `owner` holds now. */
  heldBy(owner: string): number { return this.#perUser.get(owner) ?? 0; }

  /**
   * Drops sessions idle past the lifetime (never one a request is working on), and returns
   * their ids so the caller removes their bytes.
   */
  expired(now = Date.now()): string[] {
    const out: string[] = [];
    for (const [id, s] of this.#sessions) {
      if (now - s.at < this.#ttl) break;
      if (s.busy) continue;
      this.#forget(id);
      out.push(id);
    }
    return out;
  }

  /** Opens a session for `owner` in `repo`, or refuses with TOOMANYREQUESTS when a cap is full. */
  open(repo: string, owner: string): string {
    if (this.heldBy(owner) >= this.#maxPerUser) {
      throw new RegistryError('TOOMANYREQUESTS', `you have ${this.#maxPerUser} upload sessions open, the most one user may hold; finish or cancel one first (idle ones expire after ${Math.round(this.#ttl / 60_000)} min)`);
    }
    if (this.#sessions.size >= this.#max) throw new RegistryError('TOOMANYREQUESTS', `the registry holds ${this.#max} upload sessions, the most it takes; try again later`);
    const id = randomUUID();
    this.adopt(id, repo, owner);
    return id;
  }

  /** Records a session found in storage (opened before a restart). */
  adopt(id: string, repo: string, owner: string): void {
    if (this.#sessions.has(id)) return;
    this.#sessions.set(id, { repo, owner, at: Date.now() });
    this.#perUser.set(owner, this.heldBy(owner) + 1);
  }

  /** True when the session is known here (it may still be in storage from before a restart). */
  has(id: string): boolean { return this.#sessions.has(id); }

  /** The session of `repo` and `owner`, marked as used now; BLOB_UPLOAD_UNKNOWN otherwise. */
  touch(id: string, repo: string, owner: string): Session {
    const s = this.#sessions.get(id);
    if (!s || s.repo !== repo || s.owner !== owner || s.busy === 'finish') throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is unknown`);
    this.#sessions.delete(id);
    s.at = Date.now();
    this.#sessions.set(id, s);
    return s;
  }

  /**
   * Runs `work` as the only request on the session. Taken synchronously with the check, so
   * two requests can never both get in. A PATCH beside another request is refused with
   * BLOB_UPLOAD_INVALID; a second finisher gets BLOB_UPLOAD_UNKNOWN, as the session is going.
   */
  async exclusive<T>(id: string, repo: string, owner: string, kind: Work, work: () => Promise<T>): Promise<T> {
    const s = this.touch(id, repo, owner);
    if (s.busy) {
      throw kind === 'finish'
        ? new RegistryError('BLOB_UPLOAD_INVALID', `upload ${id} is still receiving a chunk; finish it once the PATCH has been answered`)
        : new RegistryError('BLOB_UPLOAD_INVALID', `upload ${id} is already receiving a chunk; send chunks one after the other`);
    }
    s.busy = kind;
    try {
      return await work();
    } finally {
      s.busy = undefined;
      s.at = Date.now();
    }
  }

  /** Forgets a session (finished or cancelled). */
  close(id: string): void { this.#forget(id); }

  #forget(id: string): void {
    const s = this.#sessions.get(id);
    if (!s) return;
    this.#sessions.delete(id);
    const n = this.heldBy(s.owner) - 1;
    if (n > 0) this.#perUser.set(s.owner, n);
    else this.#perUser.delete(s.owner);
  }
}
