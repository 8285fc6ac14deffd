import { Transform, type TransformCallback } from 'node:stream';
import { OcimakeError } from '../errors.js';
import { Sha256Counter } from '../oci/digest.js';

/**
 * A pass-through stream that fails at the end (or as soon as too many bytes pass) unless
 * what flowed through has exactly `size` bytes and hashes to `digest`. For blobs read from
 * places we do not trust: an `oci:` layout, a `docker-archive:`.
 */
export class VerifyingTransform extends Transform {
  readonly #counter = new Sha256Counter();
  constructor(readonly digest: string, readonly size: number, readonly what: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#counter.update(chunk);
    if (this.#counter.size > this.size) return cb(new OcimakeError('DIGEST_INVALID', `${this.what}: blob ${this.digest} is longer than its ${this.size} bytes`, { hint: 'the image is corrupt or was tampered with' }));
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const got = this.#counter.digest();
    if (this.#counter.size !== this.size || got !== this.digest) {
      return cb(new OcimakeError('DIGEST_INVALID', `${this.what}: blob ${this.digest} does not match its digest (got ${got}, ${this.#counter.size} bytes)`, { hint: 'the image is corrupt or was tampered with' }));
    }
    cb();
  }
}
