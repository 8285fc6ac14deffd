import { limit, overLimit, type LimitName } from '../../util/limits.js';

/** What a pipe, a redirection or a command substitution collects, counted against a limit as it comes. */
export class Sink {
  readonly #chunks: Buffer[] = [];
  #size = 0;
  readonly #max: number;

  constructor(readonly name: LimitName, readonly what: string) {
    this.#max = limit(name);
  }

  readonly push = (d: string | Uint8Array): void => {
    const b = Buffer.from(d);
    this.#size += b.length;
    if (this.#size > this.#max) throw overLimit(this.name, `${this.what} held more than ${this.#max} bytes`, 'more data than a natively interpreted RUN holds in memory');
    this.#chunks.push(b);
  };

  bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}
