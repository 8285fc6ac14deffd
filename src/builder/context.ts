import { work } from '../util/work.js';
import { collectIfGrown, LARGE_TREE, largeTree } from '../util/heap.js';
import { limit, overLimit } from '../util/limits.js';
import { constants, lstatSync, promises as fs, readdirSync, type Stats } from 'node:fs';
import { fileDigest } from '../layer/layer-cache.js';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import dockerignore, { type Ignore } from '@balena/dockerignore';
import { OcimakeError } from '../errors.js';
import { hasGlob, segmentGlob } from '../util/glob.js';

// The package is CommonJS with an ESM-style `default` in its types; take the function either way.
type MakeIgnore = (opts?: { ignorecase?: boolean }) => Ignore;
const di = dockerignore as unknown as MakeIgnore & { default?: MakeIgnore };
const makeIgnore: MakeIgnore = di.default ?? di;

/** A path in the build context that a COPY source matched. */
export interface ContextMatch {
  /** `/`-separated path relative to the context root ('' is the root itself). */
  rel: string;
  abs: string;
  stat: ContextStat;
}

/**
 * What a build needs of a context file's stat. A walk keeps one per file until the layer is
 * planned; fs.Stats, with its times and block counts, weighed several times as much (a
 * 100,000-file context held 90 MB of them).
 */
export class ContextStat {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly dev: number;
  readonly ino: number;
  readonly nlink: number;
  /** Times, for the step cache's signature of what a walk saw. */
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  constructor(st: Stats) {
    this.mode = st.mode;
    this.uid = st.uid;
    this.gid = st.gid;
    this.size = st.size;
    this.dev = st.dev;
    this.ino = st.ino;
    this.nlink = st.nlink;
    this.mtimeMs = st.mtimeMs;
    this.ctimeMs = st.ctimeMs;
  }
  isFile(): boolean { return (this.mode & constants.S_IFMT) === constants.S_IFREG; }
  isDirectory(): boolean { return (this.mode & constants.S_IFMT) === constants.S_IFDIR; }
  isSymbolicLink(): boolean { return (this.mode & constants.S_IFMT) === constants.S_IFLNK; }
}

/**
 * The build context: a directory filtered by `.dockerignore` (or `<Dockerfile>.dockerignore`
 * beside the Dockerfile, which wins, as in BuildKit). Matching is case-sensitive, as Docker
 * is on Linux, and `!` exceptions can re-include paths inside excluded directories.
 */
export class BuildContext {
  readonly root: string;
  readonly #ignore: Ignore;
  readonly #hasExceptions: boolean;
  readonly #hasPatterns: boolean;

  /** Told of what a walk leaves out: sockets, fifos and devices (as Docker skips sockets). */
  onSkip: ((message: string) => void) | undefined;

  private constructor(root: string, patterns: string[]) {
    this.root = root;
    this.#ignore = makeIgnore({ ignorecase: false }).add(patterns);
    this.#hasExceptions = patterns.some((p) => p.trim().startsWith('!'));
    this.#hasPatterns = patterns.length > 0;
  }

  /** Opens a context directory, reading its ignore file. */
  static async open(root: string, dockerfilePath?: string): Promise<BuildContext> {
    const abs = resolve(root);
    const st = await fs.stat(abs).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw new OcimakeError('CONTEXT_INVALID', `build context "${root}" is not a directory`, { hint: 'pass the directory that holds your sources, e.g. "ocimake build ."' });
    }
    const candidates = dockerfilePath ? [`${dockerfilePath}.dockerignore`, join(abs, '.dockerignore')] : [join(abs, '.dockerignore')];
    for (const c of candidates) {
      const cst = await fs.stat(c).catch(() => undefined);
      if (!cst) continue;
      // A fifo would block the read forever; a huge file is not an ignore file.
      if (!cst.isFile()) throw new OcimakeError('CONTEXT_INVALID', `${c} is not a regular file`, { hint: 'make .dockerignore a plain text file, or remove it' });
      if (cst.size > limit('dockerfileSize')) throw overLimit('dockerfileSize', `${c} is ${cst.size} bytes`, 'an ignore file is a few KiB');
      const text = await fs.readFile(c, 'utf8').catch(() => undefined);
      if (text !== undefined) return new BuildContext(abs, parseIgnoreFile(text));
    }
    return new BuildContext(abs, []);
  }

  /** True when `.dockerignore` excludes this context-relative path. */
  isIgnored(rel: string): boolean {
    return rel !== '' && this.#hasPatterns && this.#ignore.ignores(rel);
  }

  /**
   * Resolves a COPY/ADD source (a path or a Go-style glob, relative to the context root)
   * to the context paths it names, leaving out ignored ones. Symlinks in the path itself
   * are followed but must stay inside the context.
   */
  async resolveSource(source: string): Promise<ContextMatch[]> {
    const segs: string[] = [];
    for (const s of source.split('/')) {
      if (s === '' || s === '.') continue;
      if (s === '..') {
        if (segs.length === 0) throw new OcimakeError('CONTEXT_ESCAPE', `source "${source}" is outside the build context`, { hint: 'COPY can only read files inside the context directory' });
        segs.pop();
      } else segs.push(s);
    }
    let current: string[] = [''];
    for (const seg of segs) {
      const next: string[] = [];
      for (const base of current) {
        if (!hasGlob(seg)) {
          next.push(base === '' ? seg : `${base}/${seg}`);
          continue;
        }
        const re = segmentGlob(seg);
        const dir = await fs.readdir(this.abs(base)).catch(() => [] as string[]);
        for (const name of dir.sort()) if (re.test(name)) next.push(base === '' ? name : `${base}/${name}`);
      }
      current = next;
    }
    const out: ContextMatch[] = [];
    for (const rel of current) {
      if (this.isIgnored(rel) && !(await this.#hasIncludedDescendant(rel))) continue;
      const abs = this.abs(rel);
      const stat = await fs.stat(abs).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ELOOP') throw new OcimakeError('SYMLINK_LOOP', `source "${rel}" is a symlink loop (too many levels of symbolic links)`, { hint: 'point the symlink at a real file or directory in the context' });
        return undefined;
      });
      if (!stat) continue;
      const real = await fs.realpath(abs);
      const realRoot = await fs.realpath(this.root);
      if (real !== realRoot && !real.startsWith(`${realRoot}/`)) {
        throw new OcimakeError('CONTEXT_ESCAPE', `source "${rel}" is a symlink that points outside the build context`, { hint: 'copy the target into the context instead' });
      }
      out.push({ rel, abs, stat: new ContextStat(stat) });
    }
    return out;
  }

  /** Walks kept for the next walk of the same directory (the step cache's key, then the plan). */
  readonly #kept = new Map<string, ContextMatch[]>();

  /**
   * Lists a context directory's descendants (not following symlinks), skipping ignored paths.
   * With `keep`, the list is kept for the next walk of `rel`, which takes it instead of walking
   * again: each file is looked at once per build.
   */
  async walk(rel: string, keep = false): Promise<ContextMatch[]> {
    const kept = this.#kept.get(rel);
    if (kept) {
      if (!keep) this.#kept.delete(rel);
      return kept;
    }
    const out = await this.#walk(rel);
    if (keep) this.#kept.set(rel, out);
    return out;
  }

  /** Drops the walks kept for a next one (a step the step cache answered plans nothing). */
  forgetWalks(): void {
    this.#kept.clear();
  }

  async #walk(rel: string): Promise<ContextMatch[]> {
    const out: ContextMatch[] = [];
    // `dirAbs` is the directory's absolute path: a child's is a concatenation (a directory
    // entry's name has no `/`), not a join that normalises the whole path again.
    const visit = async (dirRel: string, dirAbs: string): Promise<void> => {
      // Synchronous, as the lstats below: a directory listing through the thread pool costs a
      // round trip per directory, and a node_modules tree has hundreds of directories.
      let names: string[];
      try {
        names = readdirSync(dirAbs).sort();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new OcimakeError('FILE_UNREADABLE', `cannot list ${dirAbs} in the build context: ${e.code === 'EACCES' ? 'permission denied' : e.code ?? e.message}`, {
          hint: 'make it readable by the user running ocimake, or list it in .dockerignore',
        });
      }
      const prefix = dirAbs.endsWith('/') ? dirAbs : `${dirAbs}/`;
      for (const name of names) {
        const childRel = dirRel === '' ? name : `${dirRel}/${name}`;
        const abs = prefix + name;
        work.contextEntries++;
        if (out.length === LARGE_TREE) largeTree();
        if ((out.length & 4095) === 0) collectIfGrown();
        // Synchronous: an lstat is microseconds, and 50,000 of them through the thread pool one
        // after the other mostly wait (the walk of a 50,000-file context spent seconds idle).
        const stat = lstatSync(abs);
        const ignored = this.isIgnored(childRel);
        if (stat.isDirectory()) {
          if (ignored && !this.#hasExceptions) continue;
          if (!ignored) out.push({ rel: childRel, abs, stat: new ContextStat(stat) });
          await visit(childRel, abs);
        } else if (!ignored) {
          if (stat.isFile() || stat.isSymbolicLink()) out.push({ rel: childRel, abs, stat: new ContextStat(stat) });
          else this.onSkip?.(`${childRel} in the build context is ${stat.isFIFO() ? 'a fifo' : stat.isSocket() ? 'a socket' : 'a device'}: it is not copied (only files, directories and symlinks are)`);
        }
      }
    };
    await visit(rel, this.abs(rel));
    return out;
  }

  /**
   * A digest of the whole context as the build sees it (.dockerignore applied): one line per
   * entry, `path`, type, mode and the file's SHA-256 or the link's target, sorted by path.
   * Provenance names the context by it.
   */
  async digest(): Promise<string> {
    const h = createHash('sha256');
    for (const c of await this.walk('')) {
      const mode = (c.stat.mode & 0o7777).toString(8);
      // Through the layer cache's digests: the files COPY already hashed are not read again.
      if (c.stat.isFile()) h.update(`${JSON.stringify(c.rel)}\tfile\t${mode}\t${(await fileDigest(c.abs)).digest.slice('sha256:'.length)}\n`); else if (c.stat.isSymbolicLink()) h.update(`${JSON.stringify(c.rel)}\tsymlink\t${JSON.stringify(await fs.readlink(c.abs))}\n`);
      else h.update(`${JSON.stringify(c.rel)}\tdir\t${mode}\n`);
    }
    return `sha256:${h.digest('hex')}`;
  }

  abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  async #hasIncludedDescendant(rel: string): Promise<boolean> {
    if (!this.#hasExceptions) return false;
    const st = await fs.lstat(this.abs(rel)).catch(() => undefined);
    if (!st?.isDirectory()) return false;
    return (await this.walk(rel)).length > 0;
  }
}

/** Reads a .dockerignore: one pattern a line, `#` comments, blank lines skipped. */
export function parseIgnoreFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
