import { createHash } from 'node:crypto';
import { createGunzip, type Gunzip } from 'node:zlib';
import { OcimakeError } from '../errors.js';

/**
 * Hashes a layer's uncompressed bytes while its compressed bytes stream past (the diffID
 * of the OCI image spec). Gzip and plain tar layers are checked; other compressions
 * (zstd) are not decompressed here and `digest()` gives undefined.
 */
export class DiffIdCheck {
  readonly #hash = createHash('sha256');
  readonly #gunzip: Gunzip | undefined;
  readonly #done: Promise<void>;
  #failed: Error | undefined;

  private constructor(gzip: boolean) {
    if (!gzip) {
      this.#done = Promise.resolve();
      return;
    }
    this.#gunzip = createGunzip();
    this.#gunzip.on('data', (c: Buffer) => this.#hash.update(c));
    this.#done = new Promise((resolve) => {
      this.#gunzip!.on('end', resolve);
      this.#gunzip!.on('error', (err) => { this.#failed = err; resolve(); });
    });
  }

  /** A check for a layer of this media type, or undefined when it cannot be checked here. */
  static for(mediaType: string): DiffIdCheck | undefined {
    if (/tar\+gzip$|tar\.gzip$|diff\.tar\.gzip$/.test(mediaType)) return new DiffIdCheck(true);
    if (/\.tar$|diff\.tar$/.test(mediaType)) return new DiffIdCheck(false);
    return undefined;
  }

  /** Feeds compressed bytes; resolves when the decompressor can take more (backpressure). */
  async update(chunk: Buffer): Promise<void> {
    const g = this.#gunzip;
    if (!g) { this.#hash.update(chunk); return; }
    if (g.destroyed || this.#failed) return;
    if (!g.write(chunk)) {
      await new Promise<void>((r) => {
        const done = () => { g.off('drain', done); g.off('close', done); r(); };
        g.on('drain', done);
        g.on('close', done);
      });
    }
  }

  /** The digest of the uncompressed bytes; throws when they do not decompress. */
  async digest(): Promise<string> {
    if (this.#gunzip && !this.#gunzip.destroyed) this.#gunzip.end();
    await this.#done;
    if (this.#failed) throw new OcimakeError('DIGEST_INVALID', `the layer does not decompress: ${this.#failed.message}`, { cause: this.#failed });
    return `sha256:${this.#hash.digest('hex')}`;
  }

  abandon(): void {
    this.#gunzip?.destroy();
  }
}
