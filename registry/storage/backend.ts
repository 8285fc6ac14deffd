import type { Readable } from 'node:stream';

/**
 * The byte store under the registry: keys are `/`-separated paths. Two implementations:
 * memory (Maps) and a directory (crash-safe: temporary file, fsync, rename).
 */
export interface Backend {
  /** Writes `src` under `key`; `check` runs on the fully written bytes' digest and size before they become visible. */
  write(key: string, src: Readable | Buffer, check?: (digest: string, size: number) => void): Promise<{ digest: string; size: number }>;
  read(key: string): Promise<Buffer | undefined>;
  /** A stream of bytes [start, end] (inclusive), or undefined when the key is absent. */
  stream(key: string, range?: { start: number; end: number }): Promise<Readable | undefined>;
  size(key: string): Promise<number | undefined>;
  /** Names directly under a prefix ("dir"), sorted. */
  list(prefix: string): Promise<string[]>;
  remove(key: string): Promise<void>;
  /** Appends to `key` (creating it); returns the new size. Used for upload sessions. */
  append(key: string, src: Readable, limit: number): Promise<number>;
  /** The sha256 digest and size of a stored key, by streaming it. */
  hash(key: string): Promise<{ digest: string; size: number } | undefined>;
}
