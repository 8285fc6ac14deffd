import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RegistryError } from './errors.js';
import type { Backend } from './storage/backend.js';

// Layout of the keys (the same on disk and in memory):
//   blobs/<alg>/<hex>                    content (manifests are blobs too)
//   repositories/<name>/_links/<alg>/<hex>       the repo holds this blob (empty marker)
//   repositories/<name>/_manifests/<alg>/<hex>   the repo holds this manifest; value: its media type
//   repositories/<name>/_tags/<tag>      value: the manifest digest
//   _uploads/<uuid>/data, _uploads/<uuid>/repo   an upload session
// A tag is written last, after the manifest and every blob it names, so it never points at nothing.

const blobKey = (d: string) => `blobs/${d.replace(':', '/')}`;
const repoKey = (name: string) => `repositories/${name}`;

export interface StoredManifest { digest: string; mediaType: string; bytes: Buffer }

/** Repository-level operations of the registry over a byte backend. */
export class RegistryStore {
  /** Open upload sessions by last use (ms), oldest first. */
  readonly #sessions = new Map<string, number>();
  readonly #finishing = new Set<string>();

  /**
   * `maxUploads` open sessions at most (the least recently used is dropped past it) and
   * `uploadTtlMs` of idleness before a session is dropped (default 1,000 and 1 h).
   */
  constructor(readonly backend: Backend, readonly maxBlobBytes = 64 * 2 ** 30, readonly limits: { maxUploads?: number; uploadTtlMs?: number } = {}) {}

  /** Upload sessions held now. */
  get openUploads(): number { return this.#sessions.size; }

  #touch(id: string): void {
    this.#sessions.delete(id);
    this.#sessions.set(id, Date.now());
  }

  async #sweep(): Promise<void> {
    const ttl = this.limits.uploadTtlMs ?? 3_600_000;
    const max = this.limits.maxUploads ?? 1000;
    const now = Date.now();
    for (const [id, at] of this.#sessions) {
      if (now - at < ttl && this.#sessions.size < max) break;
      if (this.#finishing.has(id)) continue;
      this.#sessions.delete(id);
      await this.backend.remove(`_uploads/${id}`);
    }
  }

  async blobSize(repo: string, digest: string): Promise<number | undefined> {
    if ((await this.backend.size(`${repoKey(repo)}/_links/${digest.replace(':', '/')}`)) === undefined) return undefined;
    return this.backend.size(blobKey(digest));
  }

  openBlob(digest: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    return this.backend.stream(blobKey(digest), range);
  }

  async link(repo: string, digest: string): Promise<void> {
    await this.backend.write(`${repoKey(repo)}/_links/${digest.replace(':', '/')}`, Buffer.alloc(0));
  }

  async unlinkBlob(repo: string, digest: string): Promise<boolean> {
    const key = `${repoKey(repo)}/_links/${digest.replace(':', '/')}`;
    if ((await this.backend.size(key)) === undefined) return false;
    await this.backend.remove(key);
    return true;
  }

  /** Mounts a blob from another repository; false when `from` does not hold it. */
  async mount(repo: string, digest: string, from: string): Promise<boolean> {
    if ((await this.blobSize(from, digest)) === undefined) return false;
    await this.link(repo, digest);
    return true;
  }

  async startUpload(repo: string): Promise<string> {
    await this.#sweep();
    const id = randomUUID();
    this.#touch(id);
    await this.backend.write(`_uploads/${id}/repo`, Buffer.from(repo));
    await this.backend.write(`_uploads/${id}/data`, Buffer.alloc(0));
    return id;
  }

  /** The current size of an upload of `repo`, or BLOB_UPLOAD_UNKNOWN. */
  async uploadSize(repo: string, id: string): Promise<number> {
    const owner = /^[0-9a-f-]{36}$/.test(id) ? await this.backend.read(`_uploads/${id}/repo`) : undefined;
    if (!owner || owner.toString() !== repo || this.#finishing.has(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is unknown`);
    if (this.#sessions.has(id)) this.#touch(id);
    return (await this.backend.size(`_uploads/${id}/data`)) ?? 0;
  }

  async appendUpload(id: string, src: Readable): Promise<number> {
    return this.backend.append(`_uploads/${id}/data`, src, this.maxBlobBytes);
  }

  /** Verifies the upload against `digest`, publishes it as a blob of `repo`, ends the session. One finisher per session: a concurrent one gets BLOB_UPLOAD_UNKNOWN. */
  async finishUpload(repo: string, id: string, digest: string): Promise<number> {
    if (this.#finishing.has(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is already being finished`);
    this.#finishing.add(id);
    try {
      const got = await this.backend.hash(`_uploads/${id}/data`).catch(() => undefined);
      if (!got) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is unknown`);
      if (!digest.startsWith('sha256:')) throw new RegistryError('UNSUPPORTED', 'only sha256 uploads are supported', { status: 400 });
      if (got.digest !== digest) {
        await this.cancelUpload(id);
        throw new RegistryError('DIGEST_INVALID', `uploaded content has digest ${got.digest}, not ${digest}`);
      }
      if ((await this.backend.size(blobKey(digest))) === undefined) await this.backend.move(`_uploads/${id}/data`, blobKey(digest));
      await this.link(repo, digest);
      await this.cancelUpload(id);
      return got.size;
    } finally {
      this.#finishing.delete(id);
    }
  }

  async cancelUpload(id: string): Promise<void> {
    this.#sessions.delete(id);
    await this.backend.remove(`_uploads/${id}`);
  }

  /** Stores a blob in one go (monolithic upload), verifying its digest before it is visible. */
  async putBlob(repo: string, src: Readable | Buffer, digest: string, size?: number): Promise<number> {
    if (!digest.startsWith('sha256:')) throw new RegistryError('UNSUPPORTED', 'only sha256 uploads are supported', { status: 400 });
    if (size !== undefined && size > this.maxBlobBytes) throw new RegistryError('SIZE_INVALID', `blob of ${size} bytes is over the ${this.maxBlobBytes}-byte limit`, { status: 413 });
    const r = await this.backend.write(blobKey(digest), src, (d, n) => {
      if (d !== digest) throw new RegistryError('DIGEST_INVALID', `uploaded content has digest ${d}, not ${digest}`);
      if (size !== undefined && n !== size) throw new RegistryError('SIZE_INVALID', `uploaded ${n} bytes, Content-Length said ${size}`);
    });
    await this.link(repo, digest);
    return r.size;
  }

  async putManifest(repo: string, bytes: Buffer, digest: string, mediaType: string, tag?: string): Promise<void> {
    await this.backend.write(blobKey(digest), bytes);
    await this.backend.write(`${repoKey(repo)}/_manifests/${digest.replace(':', '/')}`, Buffer.from(mediaType));
    await this.link(repo, digest);
    if (tag) await this.backend.write(`${repoKey(repo)}/_tags/${tag}`, Buffer.from(digest));
  }

  /** A manifest by tag or digest, or undefined. */
  async getManifest(repo: string, reference: string): Promise<StoredManifest | undefined> {
    let digest = reference;
    if (!reference.includes(':')) {
      const d = await this.backend.read(`${repoKey(repo)}/_tags/${reference}`);
      if (!d) return undefined;
      digest = d.toString();
    }
    const mt = await this.backend.read(`${repoKey(repo)}/_manifests/${digest.replace(':', '/')}`);
    if (!mt) return undefined;
    const bytes = await this.backend.read(blobKey(digest));
    if (!bytes) return undefined;
    return { digest, mediaType: mt.toString(), bytes };
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    const key = `${repoKey(repo)}/_tags/${tag}`;
    if ((await this.backend.size(key)) === undefined) return false;
    await this.backend.remove(key);
    return true;
  }

  /** Deletes a manifest from a repository, and the tags that point at it. */
  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    const key = `${repoKey(repo)}/_manifests/${digest.replace(':', '/')}`;
    if ((await this.backend.size(key)) === undefined) return false;
    for (const t of await this.tags(repo)) {
      if ((await this.backend.read(`${repoKey(repo)}/_tags/${t}`))?.toString() === digest) await this.deleteTag(repo, t);
    }
    await this.backend.remove(key);
    return true;
  }

  async tags(repo: string): Promise<string[]> {
    return this.backend.list(`${repoKey(repo)}/_tags`);
  }

  async repoExists(repo: string): Promise<boolean> {
    return (await this.backend.list(repoKey(repo))).length > 0;
  }

  /** Every repository name, sorted. */
  async repositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (prefix: string, name: string): Promise<void> => {
      const children = await this.backend.list(prefix);
      if (children.some((c) => c.startsWith('_'))) out.push(name);
      for (const c of children) if (!c.startsWith('_')) await walk(`${prefix}/${c}`, name ? `${name}/${c}` : c);
    };
    await walk('repositories', '');
    return out.sort();
  }

  /** Every manifest a repository holds (for the referrers API). */
  async manifests(repo: string): Promise<StoredManifest[]> {
    const out: StoredManifest[] = [];
    for (const alg of await this.backend.list(`${repoKey(repo)}/_manifests`)) {
      for (const hex of await this.backend.list(`${repoKey(repo)}/_manifests/${alg}`)) {
        const m = await this.getManifest(repo, `${alg}:${hex}`);
        if (m) out.push(m);
      }
    }
    return out;
  }
}
