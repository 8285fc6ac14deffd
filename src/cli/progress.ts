import { createHash } from 'node:crypto';
import type { BuildProgress } from '../builder/build.js';
import type { PushEvent } from '../remote/push.js';
import type { BytesEvent, TransferEvent } from '../remote/transport.js';
import { redactUrlCredentials } from '../util/redact.js';

export type ProgressMode = 'auto' | 'plain' | 'quiet' | 'tty' | 'rawjson';
export const PROGRESS_MODES: readonly string[] = ['auto', 'plain', 'quiet', 'tty', 'rawjson'];

interface Vertex { id: number; digest: string; name: string; started: number; completed?: number; announced: boolean }

/**
 * Build and push progress as BuildKit shows it. `plain` (CI): numbered steps, each with
 * `DONE <time>`, layer sizes, and byte counts and rates for downloads and uploads. `tty`:
 * one `=> step  time` line per finished step and a rewritten line for the step running, with
 * BuildKit's `[+] Building 12.3s (5/7)` header and the bytes moving now; FINISHED at the end.
 * `rawjson`: the same events as JSON lines shaped like BuildKit's SolveStatus (vertexes,
 * statuses, logs, warnings). Multi-platform builds name the platform on every line.
 */
export class Progress {
  readonly #mode: 'plain' | 'quiet' | 'tty' | 'rawjson';
  readonly #out: NodeJS.WriteStream;
  readonly #multiPlatform: boolean;
  readonly #now: () => number;
  readonly #vertices = new Map<string, Vertex>();
  #n = 0;
  #current: Vertex | undefined;
  #ticker: NodeJS.Timeout | undefined;
  readonly #startedAt: number;
  #steps = 0;
  #stepsDone = 0;
  /** Blobs moving now, by digest: bytes so far, of how many, which way. */
  readonly #moving = new Map<string, { bytes: number; total: number; direction: 'pull' | 'push' }>();
  #lastRedraw = 0;

  constructor(mode: ProgressMode, out: NodeJS.WriteStream = process.stderr, opts: { multiPlatform?: boolean; now?: () => number } = {}) {
    // Every line goes out with the credentials of URLs in it (ADD https://user:token@…) redacted.
    this.#out = Object.create(out, { write: { value: (text: string) => out.write(redactUrlCredentials(text)) } }) as NodeJS.WriteStream;
    this.#mode = mode === 'auto' ? (out.isTTY ? 'tty' : 'plain') : mode;
    this.#multiPlatform = opts.multiPlatform ?? false;
    this.#now = opts.now ?? Date.now;
    this.#startedAt = this.#now();
  }

  /** Bytes of a blob going by: shown, summed, on the TTY's running line (BuildKit's byte counts). */
  bytes(e: BytesEvent): void {
    if (this.#mode !== 'tty') return;
    if (e.bytes >= e.total) this.#moving.delete(e.digest);
    else this.#moving.set(e.digest, { bytes: e.bytes, total: e.total, direction: e.direction });
    const now = this.#now();
    if (now - this.#lastRedraw < 100) return;
    this.#lastRedraw = now;
    const running = this.#current;
    this.#transient(running && !running.completed ? this.#ttyLine(running) : this.#header(''));
  }

  build(e: BuildProgress): void {
    if (e.kind === 'warning') return this.#warning(e.message);
    const label = `${this.#multiPlatform ? `${e.platform} ` : ''}${e.stage.name ?? `stage-${e.stage.index}`}`;
    const total = e.stage.instructions.length + 1;
    const key = (i: number) => `${e.platform}|${e.stage.index}|${i}`;
    switch (e.kind) {
      case 'stage': return void this.#open(key(-1), `[${label} 1/${total}] FROM ${e.stage.from.image}`, false);
      case 'from': {
        const v = this.#vertices.get(key(-1));
        if (v) v.name = `[${label} 1/${total}] FROM ${e.name}`;
        return this.#close(key(-1));
      }
      case 'step': {
        const text = e.inst.original.replace(/\s+/g, ' ').trim();
        return void this.#open(key(e.index), `[${label} ${e.index + 2}/${total}] ${text}`, true);
      }
      case 'step-done': return this.#close(key(e.index), e.layerBytes !== undefined ? `layer ${formatBytes(e.layerBytes)}` : undefined, e.cached === true);
      case 'stage-done': return;
    }
  }

  /** A blob downloaded whole. */
  transfer(e: TransferEvent): void {
    this.#oneShot('pull', e.digest, e.bytes, e.ms, `[pull] ${e.registry}/${e.repository} ${short(e.digest)}: ${formatBytes(e.bytes)} in ${seconds(e.ms)} (${rate(e.bytes, e.ms)})`);
  }

  push(e: PushEvent): void {
    switch (e.kind) {
      case 'manifest': return this.line(`pushed ${e.ref}@${e.digest}`, true);
      case 'attestation': return this.line(`attested ${e.digest} (${e.predicateType}): ${e.ref}`, true);
      case 'blob-exists': return this.#oneShot('push', e.digest, e.size, 0, `[push] ${short(e.digest)}: already exists`);
      case 'blob-mounted': return this.#oneShot('push', e.digest, 0, 0, `[push] ${short(e.digest)}: mounted from ${e.from}`);
      case 'blob-uploaded': return this.#oneShot('push', e.digest, e.size, e.ms, `[push] ${short(e.digest)}: uploaded ${formatBytes(e.size)} in ${seconds(e.ms)} (${rate(e.size, e.ms)})`);
    }
  }

  /** A transfer reported once it is over: one line (one vertex with a status in rawjson). */
  #oneShot(name: 'pull' | 'push', digest: string, bytes: number, ms: number, text: string): void {
    if (this.#mode === 'quiet') return;
    const id = ++this.#n;
    if (this.#mode === 'rawjson') {
      const end = this.#now();
      const vertex = `sha256:${createHash('sha256').update(`${name}|${digest}|${id}`).digest('hex')}`;
      const times = { started: iso(end - ms), completed: iso(end) };
      this.#json({ vertexes: [{ digest: vertex, name: `[${name}] ${digest}`, ...times }] });
      return this.#json({ statuses: [{ id: digest, vertex, name, current: bytes, total: bytes, timestamp: iso(end), ...times }] });
    }
    if (this.#mode === 'plain') return this.#write(`#${id} ${text}`);
    this.line(`=> ${text}`, true);
  }

  /** A line of RUN output, under the step running. */
  runOutput(text: string): void {
    const v = this.#current;
    if (this.#mode === 'rawjson') return this.#json({ logs: [{ vertex: v?.digest ?? '', stream: 1, data: Buffer.from(`${text}\n`).toString('base64'), timestamp: iso(this.#now()) }] });
    if (this.#mode === 'plain') return this.#write(`#${v?.id ?? 0} ${seconds(v ? this.#now() - v.started : 0, 3).replace(/s$/, '')} ${text}`);
    this.line(`  ${text}`);
  }

  /** The build failed: rawjson gets `{"error": {code, message, hint, location}}` (the other modes print the error line as every command does). */
  failure(e: { code: string; message: string }): void {
    this.#stopTicker();
    if (this.#mode === 'rawjson') this.#json({ error: e });
  }

  /** A sentence worth keeping on screen (a slow registry, a fallback). */
  notice(text: string): void {
    if (this.#mode === 'rawjson') return this.#json({ warnings: [{ vertex: this.#current?.digest ?? '', level: 0, short: Buffer.from(text).toString('base64') }] });
    this.line(text, true);
  }

  /** A line that stays on screen in TTY mode when `keep`. */
  line(text: string, keep = false): void {
    if (this.#mode === 'quiet' || this.#mode === 'rawjson') return;
    if (this.#mode === 'plain') return this.#write(text);
    if (keep) this.#out.write(`\r\x1b[2K${text}\n`);
    else this.#transient(text);
  }

  /** Ends the output with a line that is never cut. */
  done(text: string): void {
    this.#stopTicker();
    if (this.#mode === 'quiet' || this.#mode === 'rawjson') return;
    if (this.#mode === 'tty') this.#out.write(`\r\x1b[2K${this.#steps ? `${this.#header(' FINISHED')}\n` : ''}`);
    this.#out.write(`${text}\n`);
  }

  #warning(message: string): void {
    if (this.#mode === 'rawjson') return this.#json({ warnings: [{ vertex: this.#current?.digest ?? '', level: 1, short: Buffer.from(message).toString('base64') }] });
    this.line(`WARNING: ${message}`, true);
  }

  #open(key: string, name: string, announce: boolean): Vertex {
    this.#steps++;
    const v: Vertex = { id: ++this.#n, digest: `sha256:${createHash('sha256').update(key).digest('hex')}`, name, started: this.#now(), announced: announce };
    this.#vertices.set(key, v);
    // Plain names a FROM only once resolved; the other modes show it running at once.
    if (announce || this.#mode !== 'plain') this.#started(v);
    this.#current = v;
    return v;
  }

  #started(v: Vertex): void {
    if (this.#mode === 'rawjson') return this.#json({ vertexes: [{ digest: v.digest, name: v.name, started: iso(v.started) }] });
    if (this.#mode === 'plain') return this.#write(`#${v.id} ${v.name}`);
    if (this.#mode === 'tty') { this.#transient(this.#ttyLine(v)); this.#startTicker(); }
  }

  #close(key: string, detail?: string, cached = false): void {
    const v = this.#vertices.get(key);
    if (!v) return;
    this.#vertices.delete(key);
    this.#stepsDone++;
    v.completed = this.#now();
    const took = seconds(v.completed - v.started);
    if (this.#mode === 'rawjson') {
      this.#json({ vertexes: [{ digest: v.digest, name: v.name, started: iso(v.started), completed: iso(v.completed), ...(cached ? { cached: true } : {}) }] });
    } else if (this.#mode === 'plain') {
      // A FROM is named when it is resolved (with its digest), so its line comes now.
      if (!v.announced) this.#write(`#${v.id} ${v.name}`);
      this.#write(cached ? `#${v.id} CACHED${detail ? ` (${detail})` : ''}` : `#${v.id} DONE ${took}${detail ? ` (${detail})` : ''}`);
    } else if (this.#mode === 'tty') {
      this.#out.write(`\r\x1b[2K=> ${cached ? 'CACHED ' : ''}${v.name}${detail ? ` (${detail})` : ''}  ${took}\n`);
    }
    if (this.#current === v) this.#current = [...this.#vertices.values()].pop();
    if (this.#mode === 'tty' && this.#current) this.#transient(this.#ttyLine(this.#current));
  }

  #ttyLine(v: Vertex): string {
    return `${this.#header('')} => ${v.name}  ${seconds(this.#now() - v.started)}${this.#inFlight()}`;
  }

  /** BuildKit's header: `[+] Building 12.3s (5/7)`, and FINISHED at the end. */
  #header(tail: string): string {
    return `[+] Building ${seconds(this.#now() - this.#startedAt)} (${this.#stepsDone}/${this.#steps})${tail}`;
  }

  /** What is downloading or uploading now: `  ↓ 45.2 MB/150 MB` (and ↑ for pushes). */
  #inFlight(): string {
    if (this.#moving.size === 0) return '';
    const sum = (d: 'pull' | 'push') => [...this.#moving.values()].filter((m) => m.direction === d).reduce((a, m) => ({ bytes: a.bytes + m.bytes, total: a.total + m.total, n: a.n + 1 }), { bytes: 0, total: 0, n: 0 });
    return (['pull', 'push'] as const).map((d) => { const t = sum(d); return t.n ? `  ${d === 'pull' ? '↓' : '↑'} ${formatBytes(t.bytes)}/${formatBytes(t.total)}` : ''; }).join('');
  }

  /** Rewrites the one transient line; cut to the terminal's width only when it has one. */
  #transient(text: string): void {
    const cols = this.#out.columns ?? 0;
    this.#out.write(`\r\x1b[2K${cols > 1 && text.length > cols - 1 ? text.slice(0, cols - 1) : text}`);
  }

  #startTicker(): void {
    if (this.#ticker) return;
    this.#ticker = setInterval(() => {
      const running = this.#current;
      if (running && !running.completed) this.#transient(this.#ttyLine(running));
    }, 250);
    this.#ticker.unref();
  }

  #stopTicker(): void {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = undefined;
  }

  #write(text: string | null): void {
    if (text !== null) this.#out.write(`${text}\n`);
  }

  #json(o: unknown): void {
    this.#out.write(`${JSON.stringify(o)}\n`);
  }
}

function short(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

function seconds(ms: number, digits = 1): string {
  return `${(ms / 1000).toFixed(digits)}s`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Bytes in decimal units, as BuildKit prints them (1.23 MB). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

function rate(bytes: number, ms: number): string {
  return `${formatBytes(Math.round(bytes / Math.max(ms, 1) * 1000))}/s`;
}
