import type { Readable } from 'node:stream';
import { RegistryError } from './errors.js';
import type { Backend } from './storage/backend.js';
import { UploadSessions, type UploadLimits } from './sessions.js';

// Layout of the keys (the same on disk and in memory):
//   blobs/<alg>/<hex>                    content (manifests are blobs too)
//   repositories/<name>/_links/<alg>/<hex>       the repo holds this blob (empty marker)
//   repositories/<name>/_manifests/<alg>/<hex>   the repo holds this manifest; value: its media type
//   repositories/<name>/_tags/<tag>      value: the manifest digest
//   _uploads/<uuid>/data, …/repo, …/owner     an upload session, and who opened it
// A tag is written last, after the manifest and every blob it names, so it never points at nothing.

const blobKey = (d: string) => `blobs/${d.replace(':', '/')}`;
const repoKey = (name: string) => `repositories/${name}`;

export interface StoredManifest { digest: string; mediaType: string; bytes: Buffer }

/** Repository-level operations of the registry over a byte backend. */
export class RegistryStore {
  readonly #uploads: UploadSessions;

  /** `limits`: caps on open upload sessions and their idle lifetime (see UploadLimits). */
  constructor(readonly backend: Backend, readonly maxBlobBytes = 64 * 2 ** 30, readonly limits: UploadLimits = {}) {
    this.#uploads = new UploadSessions(limits);
  }

  /** Upload sessions held now. */
  get openUploads(): number { return this.#uploads.size; }

  async #sweep(): Promise<void> {
    for (const id of this.#uploads.expired()) await this.backend.remove(`_uploads/${id}`);
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

  /** Opens an upload session of `owner` (a user name, or the client's address without auth) in `repo`. */
  async startUpload(repo: string, owner: string): Promise<string> {
    await this.#sweep();
    const id = this.#uploads.open(repo, owner);
    await this.backend.write(`_uploads/${id}/repo`, Buffer.from(repo));
    await this.backend.write(`_uploads/${id}/owner`, Buffer.from(owner));
    await this.backend.write(`_uploads/${id}/data`, Buffer.alloc(0));
    return id;
  }

  /** Takes up a session left in storage by an earlier run of the registry. */
  async #known(repo: string, id: string, owner: string): Promise<void> {
    if (this.#uploads.has(id) || !/^[0-9a-f-]{36}$/.test(id)) return;
    const storedRepo = (await this.backend.read(`_uploads/${id}/repo`))?.toString();
    const storedOwner = (await this.backend.read(`_uploads/${id}/owner`))?.toString();
    if (storedRepo === repo && storedOwner === owner && !this.#uploads.has(id)) this.#uploads.adopt(id, repo, owner);
  }

  /** The current size of an upload of `repo` by `owner`, or BLOB_UPLOAD_UNKNOWN. */
  async uploadSize(repo: string, id: string, owner: string): Promise<number> {
    await this.#known(repo, id, owner);
    this.#uploads.touch(id, repo, owner);
    return (await this.backend.size(`_uploads/${id}/data`)) ?? 0;
  }

  /** Appends a chunk; refused while another request works on the session. Returns the new size. */
  async appendUpload(repo: string, id: string, owner: string, src: Readable): Promise<number> {
    await this.#known(repo, id, owner);
    return this.#uploads.exclusive(id, repo, owner, 'append', () => this.backend.append(`_uploads/${id}/data`, src, this.maxBlobBytes));
  }

  /**
   * Appends the PUT's own chunk (if any), verifies the upload against `digest` and publishes it
   * as a blob of `repo`, then ends the session. One request at a time: a PUT while a PATCH is
   * still writing is refused, and a second finisher gets BLOB_UPLOAD_UNKNOWN. The blob is
   * written anew from the session's bytes and checked as it lands, so what is stored under a
   * digest is what hashes to it, whatever else happens to the session's file.
   */
  async finishUpload(repo: string, id: string, owner: string, digest: string, last?: Readable): Promise<number> {
    await this.#known(repo, id, owner);
    return this.#uploads.exclusive(id, repo, owner, 'finish', async () => {
      if (last) await this.backend.append(`_uploads/${id}/data`, last, this.maxBlobBytes);
      if (!digest.startsWith('sha256:')) throw new RegistryError('UNSUPPORTED', 'only sha256 uploads are supported', { status: 400 });
      const data = `_uploads/${id}/data`;
      const mismatch = async (got: string): Promise<never> => {
        await this.cancelUpload(id);
        throw new RegistryError('DIGEST_INVALID', `uploaded content has digest ${got}, not ${digest}`);
      };
      let size: number;
      if ((await this.backend.size(blobKey(digest))) !== undefined) {
        const got = await this.backend.hash(data);
        if (!got) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is unknown`);
        if (got.digest !== digest) await mismatch(got.digest);
        size = got!.size;
      } else {
        const src = await this.backend.stream(data);
        if (!src) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is unknown`);
        let wrong: string | undefined;
        try {
          size = (await this.backend.write(blobKey(digest), src, (d) => { if (d !== digest) { wrong = d; throw new RegistryError('DIGEST_INVALID', 'mismatch'); } })).size;
        } catch (err) {
          if (wrong) await mismatch(wrong);
          throw err;
        }
      }
      await this.link(repo, digest);
      await this.cancelUpload(id);
      return size;
    });
  }

  async cancelUpload(id: string): Promise<void> {
    this.#uploads.close(id);
    await this.backend.remove(`_uploads/${id}`);
  }

  /** Cancels an upload of `repo` by `owner` (DELETE), or BLOB_UPLOAD_UNKNOWN. */
  async cancelOwnUpload(repo: string, id: string, owner: string): Promise<void> {
    await this.#known(repo, id, owner);
    if (this.#uploads.touch(id, repo, owner).busy) throw new RegistryError('BLOB_UPLOAD_INVALID', `upload ${id} is receiving a chunk; cancel it once the PATCH has been answered`);
    await this.cancelUpload(id);
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
