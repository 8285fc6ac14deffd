import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OcimakeError } from '../errors.js';
import { copyOut } from '../image/copy-out.js';
import type { MergedFs } from '../image/merged-fs.js';
import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';
import { hasGlob } from '../util/glob.js';
import { detectArchive, extractArchiveEntries } from './archive.js';
import type { BuildContext, ContextMatch } from './context.js';

/**
 * One path a COPY source argument matched, as every source filesystem reports it: `rel` is
 * the path as matched (for `--parents`, `--exclude` and the name it takes in a directory);
 * `entries` are a file itself (rel ''), a directory's contents, or an archive's contents
 * (ADD), with paths and hardlink targets relative to it, owners and modes as the source has them.
 */
export interface SourceItem {
  rel: string;
  kind: 'file' | 'directory' | 'archive';
  entries: { rel: string; entry: LayerEntry }[];
}

/** Where COPY reads from: the build context, a stage or an image. */
export interface CopySource {
  /** For messages: "the build context", "stage builder", an image reference. */
  what: string;
  /** COPY --from keeps the owners it reads; the context's files become root's (as in Docker). */
  keepsOwners: boolean;
  /**
   * Expands one source argument: wildcards matched, the source itself followed if it is a
   * symlink. A wildcard that matches nothing gives [] (BuildKit allows it); a missing plain
   * path is an error. `archives`: ADD unpacks local archives.
   */
  resolve(src: string, opts: { archives: boolean; scratch: string }): Promise<SourceItem[]>;
}

/** The build context as a COPY source (filtered by .dockerignore). */
export function contextSource(context: BuildContext): CopySource {
  let n = 0;
  return {
    what: 'the build context',
    keepsOwners: false,
    async resolve(src, opts) {
      const matches = await context.resolveSource(src);
      if (matches.length === 0 && hasGlob(src)) return [];
      if (matches.length === 0) {
        throw new OcimakeError('SOURCE_NOT_FOUND', `"${src}" not found in the build context or excluded by .dockerignore`, { hint: `check the path relative to ${context.root} and your .dockerignore` });
      }
      const items: SourceItem[] = [];
      for (const m of matches) {
        if (m.stat.isDirectory()) { items.push({ rel: m.rel, kind: 'directory', entries: await walkContext(context, m) }); continue; }
        if (!m.stat.isFile()) throw new OcimakeError('SOURCE_INVALID', `"${m.rel}" is not a regular file or directory`, { hint: 'sockets, fifos and devices cannot be copied into an image' });
        const kind = opts.archives ? await detectArchive(m.abs) : undefined;
        if (kind) {
          const entries = await extractArchiveEntries(m.abs, kind, '', join(opts.scratch, `add-${randomTag()}-${n++}`));
          items.push({ rel: m.rel, kind: 'archive', entries: entries.map((entry) => ({ rel: entry.path, entry })) });
          continue;
        }
        items.push({ rel: m.rel, kind: 'file', entries: [{ rel: '', entry: { type: 'file', path: '', mode: m.stat.mode & 0o7777, uid: m.stat.uid, gid: m.stat.gid, size: m.stat.size, source: { kind: 'path', path: m.abs } } }] });
      }
      return items;
    },
  };
}

async function walkContext(context: BuildContext, m: ContextMatch): Promise<SourceItem['entries']> {
  const out: SourceItem['entries'] = [];
  const seen = new Map<string, string>(); // dev:ino -> first path, for hardlinks
  for (const c of await context.walk(m.rel)) {
    const rel = m.rel === '' ? c.rel : c.rel.slice(m.rel.length + 1);
    const base = { path: rel, uid: c.stat.uid, gid: c.stat.gid, mode: c.stat.mode & 0o7777 };
    if (c.stat.isDirectory()) out.push({ rel, entry: { ...base, type: 'directory' } });
    else if (c.stat.isSymbolicLink()) out.push({ rel, entry: { ...base, type: 'symlink', mode: 0o777, linkname: await fs.readlink(c.abs) } });
    else if (c.stat.isFile()) {
      const key = `${c.stat.dev}:${c.stat.ino}`;
      const first = c.stat.nlink > 1 ? seen.get(key) : undefined;
      if (first !== undefined) out.push({ rel, entry: { ...base, type: 'hardlink', linkname: first } });
      else {
        if (c.stat.nlink > 1) seen.set(key, rel);
        out.push({ rel, entry: { ...base, type: 'file', size: c.stat.size, source: { kind: 'path', path: c.abs } } });
      }
    }
  }
  return out;
}

/** A stage or an image as a COPY source, read through its merged filesystem (only the layers needed). */
export function imageSource(mfs: MergedFs, what: string): CopySource {
  let n = 0;
  return {
    what,
    keepsOwners: true,
    async resolve(src, opts) {
      // Each argument spools into a directory of its own: file names restart with every spool.
      const copied = await copyOut(mfs, [src], join(opts.scratch, `from-${randomTag()}-${n++}`), what, { allowEmptyWildcard: true });
      return copied.map((c) => ({ rel: normalizeEntryPath(c.requested), kind: c.kind, entries: c.entries }));
    },
  };
}

const randomTag = () => randomBytes(4).toString('hex');
