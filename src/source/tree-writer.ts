import { mkdirp } from '../util/fs-paths.js';
import { createReadStream, promises as fs, constants } from 'node:fs';
import { join } from 'node:path';
import { OcimakeError } from '../errors.js';
import type { LayerEntry } from '../layer/entry.js';

const unsafe = (rel: string, why: string) =>
  new OcimakeError('LAYER_UNSAFE', `refusing to write ${rel}: ${why}`, { hint: 'the image tries to write outside its own tree; it is refused so nothing lands outside the output' });

/**
 * Writes entries of an image under `dest` without ever resolving a path through anything
 * it did not verify itself (SECURITY.md, "writing trees to disk"):
 * - a parent is used only when it is a directory this writer created in this run, or a
 *   real (not symlinked) directory that already stood in `dest` and was checked with lstat;
 *   replacing a directory forgets it and everything below it;
 * - a hardlink is made only to a regular file this writer wrote in this run, still the same
 *   inode, through parents that pass the rule above;
 * - files are opened with O_CREAT|O_EXCL|O_NOFOLLOW and their modes set on the open handle;
 * - directory modes are applied at the end, children before parents, so read-only
 *   directories and a non-root user work.
 * Each parent is checked once (a set of verified directories), so a path of depth d costs
 * O(1) per entry, not O(d). The output directory is the user's own: a process racing to
 * swap its directories for symlinks while ocimake writes is outside the threat model.
 */
export class TreeWriter {
  readonly #dest: string;
  /** Relative paths of directories known to be real ('' is dest). */
  readonly #dirs = new Set<string>(['']);
  /** Regular files written in this run, with their inode. */
  readonly #files = new Map<string, number>();
  /** Final directory modes, applied at the end. */
  readonly #modes = new Map<string, number>();
  files = 0;

  constructor(dest: string) {
    this.#dest = dest;
  }

  static async open(dest: string): Promise<TreeWriter> {
    await mkdirp(dest);
    const st = await fs.lstat(dest);
    if (!st.isDirectory()) throw new OcimakeError('OUTPUT_INVALID', `${dest} is not a directory`);
    return new TreeWriter(dest);
  }

  /** Writes one entry at `rel` (normalised, relative to dest); a hardlink's `linkTo` is normalised and relative to dest too. */
  async write(rel: string, e: LayerEntry, linkTo?: string): Promise<void> {
    if (rel === '') {
      if (e.type === 'directory') this.#modes.set('', e.mode & 0o7777);
      return;
    }
    await this.#parent(rel);
    const target = join(this.#dest, rel);
    const existing = await fs.lstat(target).catch(() => undefined);
    if (existing && !(existing.isDirectory() && e.type === 'directory')) {
      await fs.rm(target, { recursive: true, force: true });
      this.#forget(rel);
    }
    switch (e.type) {
      case 'directory':
        if (existing?.isDirectory() && !this.#dirs.has(rel)) {
          // A directory that stood there before: lstat said real, so it may be adopted.
          await fs.chmod(target, 0o700 | (existing.mode & 0o7777));
        } else if (!existing?.isDirectory()) {
          await fs.mkdir(target, { mode: 0o700 });
        }
        this.#dirs.add(rel);
        this.#modes.set(rel, e.mode & 0o7777);
        return;
      case 'symlink':
        await fs.symlink(e.linkname, target);
        return;
      case 'hardlink': {
        const from = linkTo ?? e.linkname;
        const ino = this.#files.get(from);
        if (ino === undefined) throw unsafe(rel, `its hardlink target ${from} is not a file this extraction wrote`);
        await this.#parent(from);
        const st = await fs.lstat(join(this.#dest, from)).catch(() => undefined);
        if (!st?.isFile() || st.ino !== ino) throw unsafe(rel, `its hardlink target ${from} was replaced`);
        await fs.link(join(this.#dest, from), target);
        this.#files.set(rel, ino);
        this.files++;
        return;
      }
      case 'file': {
        const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
        const fh = await fs.open(target, flags, 0o600);
        try {
          if (e.source.kind === 'path') {
            for await (const chunk of createReadStream(e.source.path)) await fh.write(chunk as Buffer);
          } else {
            await fh.writeFile(e.source.data);
          }
          await fh.chmod(e.mode & 0o7777);
          this.#files.set(rel, (await fh.stat()).ino);
        } finally {
          await fh.close();
        }
        this.files++;
        return;
      }
    }
  }

  /** Applies directory modes, deepest first, through handles opened without following links. */
  async finish(): Promise<void> {
    const order = [...this.#modes.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
    for (const rel of order) {
      if (!this.#dirs.has(rel)) continue;
      const fh = await fs.open(join(this.#dest, rel), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      try {
        await fh.chmod(this.#modes.get(rel)!);
      } finally {
        await fh.close();
      }
    }
  }

  /** Makes sure the parent of `rel` is a verified directory, creating missing ones. */
  async #parent(rel: string): Promise<void> {
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    if (this.#dirs.has(parent)) return;
    await this.#parent(parent);
    const p = join(this.#dest, parent);
    const st = await fs.lstat(p).catch(() => undefined);
    if (!st) {
      await fs.mkdir(p, { mode: 0o700 });
      this.#modes.set(parent, 0o755);
    } else if (st.isSymbolicLink() || !st.isDirectory()) {
      throw unsafe(rel, `${parent} is not a real directory`);
    }
    this.#dirs.add(parent);
  }

  /** Forgets `rel` and everything below it (it was removed or replaced). */
  #forget(rel: string): void {
    const prefix = `${rel}/`;
    for (const set of [this.#dirs, this.#modes, this.#files] as const) {
      for (const k of set.keys()) if (k === rel || k.startsWith(prefix)) set.delete(k);
    }
  }
}
