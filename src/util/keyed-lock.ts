// One holder per key at a time; the others wait in turn. For work that, done twice at once,
// would be done twice (two stages with the same step): the second waits and then finds the
// first's result in the cache.

export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Resolves once `key` is free, with the function that frees it again. */
  async acquire(key: string): Promise<() => void> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const tail = before.then(() => mine);
    this.#tails.set(key, tail);
    await before;
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }
}
