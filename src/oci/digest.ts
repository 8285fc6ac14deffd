import { createHash, type Hash } from 'node:crypto';
import { OcimakeError } from '../errors.js';

// Digests per https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests

export type Digest = `sha256:${string}` | `sha512:${string}`;

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** True when `s` is a well-formed sha256 or sha512 digest. */
export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

/** Parses a digest string, throwing DIGEST_INVALID when malformed. */
export function parseDigest(s: string): Digest {
  if (!isDigest(s)) {
    throw new OcimakeError('DIGEST_INVALID', `invalid digest "${s}"`, {
      hint: 'a digest looks like sha256:<64 lowercase hex characters>',
    });
  }
  return s;
}

/** The sha256 digest of some bytes. */
export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A running sha256 that also counts bytes; used by the hashing transforms. */
export class Sha256Counter {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
  }

  get size(): number {
    return this.#size;
  }

  digest(): Digest {
    return `sha256:${this.#hash.digest('hex')}`;
  }
}

/** The hex part of a digest (for file names). */
export function digestHex(d: string): string {
  const i = d.indexOf(':');
  return d.slice(i + 1);
}

/** The algorithm part of a digest. */
export function digestAlgorithm(d: string): string {
  return d.slice(0, d.indexOf(':'));
}
