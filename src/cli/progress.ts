import type { BuildProgress } from '../builder/build.js';
import type { PushEvent } from '../remote/push.js';

export type ProgressMode = 'auto' | 'plain' | 'quiet' | 'tty';

/** Prints build and push progress: plain lines for CI, one rewritten line on a TTY, or nothing. */
export class Progress {
  readonly #mode: 'plain' | 'quiet' | 'tty';
  readonly #out: NodeJS.WriteStream;
  #n = 0;

  constructor(mode: ProgressMode, out: NodeJS.WriteStream = process.stderr) {
    this.#out = out;
    this.#mode = mode === 'auto' ? (out.isTTY ? 'tty' : 'plain') : mode === 'tty' ? 'tty' : mode;
  }

  build(e: BuildProgress): void {
    if (e.kind === 'warning') return this.line(`WARNING: ${e.message}`, true);
    if (e.kind === 'stage') {
      const label = e.stage.name ? `stage ${e.stage.name}` : `stage ${e.stage.index}`;
      return this.line(`#${++this.#n} [${label}] FROM ${e.stage.from.image}`);
    }
    const label = e.stage.name ?? String(e.stage.index);
    const text = e.inst.original.replace(/\s+/g, ' ').trim();
    this.line(`#${++this.#n} [${label} ${e.index + 1}/${e.stage.instructions.length}] ${text.length > 100 ? `${text.slice(0, 97)}...` : text}`);
  }

  push(e: PushEvent): void {
    switch (e.kind) {
      case 'blob-exists': return this.line(`pushing ${e.digest.slice(7, 19)}: already exists`);
      case 'blob-uploaded': return this.line(`pushing ${e.digest.slice(7, 19)}: uploaded ${e.size} bytes`);
      case 'blob-mounted': return this.line(`pushing ${e.digest.slice(7, 19)}: mounted from ${e.from}`);
      case 'manifest': return this.line(`pushed ${e.ref}@${e.digest}`, true);
    }
  }

  /** A line that stays on screen in TTY mode when `keep`. */
  line(text: string, keep = false): void {
    if (this.#mode === 'quiet') return;
    if (this.#mode === 'plain') { this.#out.write(`${text}\n`); return; }
    const cols = this.#out.columns ?? 100;
    this.#out.write(`\r\x1b[2K${text.slice(0, cols - 1)}${keep ? '\n' : ''}`);
  }

  /** Ends a rewritten TTY line. */
  done(text: string): void {
    if (this.#mode === 'quiet') return;
    if (this.#mode === 'tty') this.#out.write('\r\x1b[2K');
    this.#out.write(`${text}\n`);
  }
}
