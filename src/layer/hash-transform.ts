import { Transform, type TransformCallback } from 'node:stream';
import { Sha256Counter } from '../oci/digest.js';

/** A pass-through stream that hashes and counts what flows through it. */
export class HashingTransform extends Transform {
  readonly counter = new Sha256Counter();

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.counter.update(chunk);
    cb(null, chunk);
  }
}
