import { basename, join, posix } from 'node:path';
import { OcimakeError } from '../errors.js';
import { modeOf } from '../util/file-mode.js';
import { collectIfGrown } from '../util/heap.js';
import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';
import { expandWord, type VarMap } from '../dockerfile/shell-lex.js';
import type { Instruction } from '../dockerfile/instructions.js';
import type { CopySource } from './copy-sources.js';
import type { MergedFs } from '../image/merged-fs.js';
import { excludeMatcher, refuseUnsupportedFlags } from './copy-filters.js';
import { isGitSource, isUrlSource, urlFileName, type UrlFetcher } from '../remote/url-fetch.js';

type CopyInstruction = Extract<Instruction, { kind: 'copy' | 'add' }>;

export interface Owner { uid: number; gid: number }

/** What a COPY/ADD will write: its entries and the owner of directories it creates. */
export interface CopyPlan {
  entries: LayerEntry[];
  owner: Owner;
  /** The instruction as history records it, with variables expanded. */
  createdBy: string;
}

export interface CopyInputs extends DestInputs {
  /** Where the sources are read from: the build context, a stage or an image. */
  source: CopySource;
  /** A directory for temporary files (ADD archive extraction). */
  scratch: string;
  /** Resolves a user or group name to an id from the stage's /etc/passwd and /etc/group. */
  lookupId?: (kind: 'user' | 'group' | 'primary-gid', name: string) => number | undefined;
  /** Fetches ADD's URL sources; without it, a URL is refused. */
  fetchUrl?: UrlFetcher;
}

/** What every COPY and ADD shares: the instruction, the stage's filesystem and variables. */
export interface DestInputs { inst: CopyInstruction; fs: MergedFs; env: VarMap; workdir: string; escape: string }

/**
 * Expands a COPY/ADD destination and applies Docker's rules: relative to WORKDIR, followed
 * through symlinks in the image (so /bin on a merged-/usr base is /usr/bin), and meaning
 * "into" when it ends with `/` (or is `.`) or names an existing directory.
 */
export async function resolveDest(inp: DestInputs): Promise<{ rawDest: string; dest: string; destIsDir: boolean }> {
  const rawDest = expandWord(inp.inst.dest, inp.env, inp.escape);
  const destAbs = rawDest.startsWith('/') ? rawDest : posix.join(inp.workdir || '/', rawDest);
  const dest = await inp.fs.realPath(destAbs, true);
  return { rawDest, dest, destIsDir: /\/\.?$/.test(rawDest) || rawDest === '.' || (await inp.fs.isDirectory(dest)) };
}

/** Docker's error for several sources copied to something that is not a directory. */
export function destNotDir(kw: string, rawDest: string, why?: string): OcimakeError {
  return new OcimakeError('COPY_DEST_NOT_DIR', `When using ${kw} with more than one source file, the destination must be a directory and end with a /`, {
    hint: `${why ? `${why}; ` : ''}write the destination as "${rawDest}/"`,
  });
}

/** Parses `--chown=user[:group]`. A user alone: a name takes its primary group from /etc/passwd, a number the same id, as Docker does. */
export function parseChown(spec: string, lookupId?: CopyInputs['lookupId']): Owner {
  const [user = '', group] = spec.split(':');
  const id = (kind: 'user' | 'group', v: string): number => {
    if (/^\d+$/.test(v)) return Number(v);
    const found = lookupId?.(kind, v);
    if (found === undefined) {
      throw new OcimakeError('CHOWN_INVALID', `unable to find ${kind} "${v}" for --chown=${spec}`, { hint: `use numeric ids (--chown=1000:1000), or add the ${kind} to /etc/${kind === 'user' ? 'passwd' : 'group'} in the image first` });
    }
    return found;
  };
  if (user === '') throw new OcimakeError('CHOWN_INVALID', `invalid --chown value "${spec}"`, { hint: 'use --chown=uid[:gid] or --chown=user[:group]' });
  const uid = id('user', user);
  if (group === undefined || group === '') return { uid, gid: /^\d+$/.test(user) ? uid : (lookupId?.('primary-gid', user) ?? uid) };
  return { uid, gid: id('group', group) };
}

/**
 * A `--chmod` value as BuildKit takes it: octal (`755`, `0644`, `0o755`), or symbolic (`u=rwX,go=rX`,
 * `+x`, `g=u`), which is applied to each entry's own mode (a directory's X is x), as chmod would.
 */
export type Chmod = (mode: number, isDir: boolean) => number;

export function parseChmod(spec: string): Chmod {
  const octal = /^(?:0o)?([0-7]{3,4})$/.exec(spec);
  if (octal) { const v = parseInt(octal[1]!, 8); return () => v; }
  if (spec !== '' && modeOf(spec, 0o644, false, 0) !== undefined) return (mode, isDir) => modeOf(spec, mode, isDir, 0)!;
  throw new OcimakeError('CHMOD_INVALID', `invalid --chmod value "${spec}"`, { hint: 'use an octal mode (--chmod=755, --chmod=0644) or a symbolic one (--chmod=u=rwX,go=rX, --chmod=+x)' });
}

/**
 * Plans a COPY or ADD, in the shape of BuildKit's copy, over any source (the build context,
 * a stage, an image): each source argument is expanded (wildcards; a symlink source is
 * followed), a directory's contents are copied rather than the directory, `--exclude` and
 * `--parents` apply, the destination means "into" when it ends with `/` (or is `.`) or is
 * an existing directory, several sources need a directory, and `--chown`/`--chmod` set what
 * they say. Context files become root's unless `--chown`; COPY --from keeps the owners it
 * reads. ADD unpacks local archives, and heredocs are files of their own.
 */
export async function planCopy(inp: CopyInputs): Promise<CopyPlan> {
  const { inst, env, escape, source } = inp;
  const kw = inst.kind.toUpperCase();
  refuseUnsupportedFlags(inst);
  const excluded = excludeMatcher(inst, env, escape);
  const chown = inst.chown !== undefined ? parseChown(expandWord(inst.chown, env, escape), inp.lookupId) : undefined;
  const chmod = inst.chmod !== undefined ? parseChmod(expandWord(inst.chmod, env, escape)) : undefined;
  const owner = chown ?? { uid: 0, gid: 0 };
  const { rawDest, dest, destIsDir } = await resolveDest(inp);
  const heredocs = new Map(inst.heredocs.map((h) => [h.name, h]));
  const sources = inst.sources.map((s) => (heredocNameOf(s) !== undefined && heredocs.has(heredocNameOf(s)!) ? s : expandWord(s, env, escape)));
  const checksum = inst.checksum !== undefined ? expandWord(inst.checksum, env, escape) : undefined;
  if (checksum !== undefined && !sources.every((s) => isUrlSource(s) && !isGitSource(s))) {
    throw new OcimakeError('DOCKERFILE_INVALID', 'ADD --checksum applies to http(s) URL sources only', { hint: 'drop --checksum, or ADD the URL the digest is of' });
  }
  if ((sources.length > 1 || inst.parents) && !destIsDir) throw destNotDir(kw, rawDest);
  const entries: LayerEntry[] = [];
  // An entry read from the source, placed at `path` with the owner and mode COPY gives it.
  const place = (e: LayerEntry, path: string, linkBase: string): LayerEntry => {
    const out = { ...e, path } as LayerEntry;
    const ids = chown ?? (source.keepsOwners ? { uid: e.uid, gid: e.gid } : { uid: 0, gid: 0 });
    out.uid = ids.uid;
    out.gid = ids.gid;
    if (chmod !== undefined && out.type !== 'symlink') out.mode = chmod(out.mode & 0o7777, out.type === 'directory');
    if (out.type === 'hardlink') out.linkname = normalizeEntryPath(`${linkBase}/${out.linkname}`);
    return out;
  };
  for (const src of sources) {
    const hd = heredocs.get(heredocNameOf(src) ?? '');
    if (hd) {
      const content = hd.expand ? expandHeredoc(hd.content, env, escape) : hd.content;
      const path = destIsDir ? join(dest, hd.name) : dest;
      const data = Buffer.from(content, 'utf8');
      entries.push({ type: 'file', path, mode: chmod ? chmod(0o644, false) : 0o644, uid: owner.uid, gid: owner.gid, size: data.length, source: { kind: 'bytes', data } });
      continue;
    }
    if (isGitSource(src)) {
      throw new OcimakeError('UNSUPPORTED', `${kw} from a git repository ("${src}") is not supported yet`, { hint: 'clone the repository into the build context first, then COPY it' });
    }
    if (isUrlSource(src)) {
      if (inst.kind === 'copy') throw new OcimakeError('DOCKERFILE_INVALID', `COPY cannot fetch a URL ("${src}")`, { hint: `use ADD ${src} ${rawDest}` });
      if (!inp.fetchUrl) throw new OcimakeError('UNSUPPORTED', `ADD from a URL ("${src}") needs the network, which this build has not`, { hint: 'download the file into the context first, then COPY it' });
      const name = destIsDir ? urlFileName(src) : undefined;
      if (destIsDir && name === undefined) {
        throw new OcimakeError('DOCKERFILE_INVALID', `ADD cannot name the file of "${src}": its path has no file name`, { hint: `give the destination a file name: ADD ${src} ${posix.join(rawDest, 'name')}` });
      }
      const got = await inp.fetchUrl(src, checksum !== undefined ? { checksum } : {});
      // As Docker: a fetched file is 0600 (unless --chmod) and is never unpacked.
      entries.push({ type: 'file', path: normalizeEntryPath(name !== undefined ? join(dest, name) : dest), mode: chmod ? chmod(0o600, false) : 0o600, uid: owner.uid, gid: owner.gid, size: got.size, source: { kind: 'path', path: got.path } });
      continue;
    }
    const items = await source.resolve(src, { archives: inst.kind === 'add', scratch: inp.scratch });
    if (items.length > 1 && !destIsDir) throw destNotDir(kw, rawDest, `"${src}" matched ${items.length} paths`);
    for (const item of items) {
      if (excluded?.(item.rel)) continue;
      if (item.kind === 'archive') {
        if (chmod !== undefined) throw new OcimakeError('UNSUPPORTED', 'ADD --chmod cannot be used when ADD extracts an archive', { hint: 'drop --chmod or COPY the archive instead' });
        // An archive keeps its own owners unless --chown says otherwise.
        for (const { rel, entry } of item.entries) {
          const e = place(entry, normalizeEntryPath(`${dest}/${rel}`), dest);
          if (!chown) { e.uid = entry.uid; e.gid = entry.gid; }
          entries.push(e);
        }
        continue;
      }
      if (item.kind === 'file') {
        const target = inst.parents ? join(dest, item.rel) : destIsDir ? join(dest, basename(item.rel)) : dest;
        entries.push(place(item.entries[0]!.entry, normalizeEntryPath(target), dest));
        continue;
      }
      const under = inst.parents ? normalizeEntryPath(`${dest}/${item.rel}`) : dest;
      if (under !== '' && !(await inp.fs.isDirectory(under))) entries.push({ type: 'directory', path: under, mode: 0o755, uid: owner.uid, gid: owner.gid });
      for (const { rel, entry } of item.entries) {
        if (excluded?.(rel)) continue;
        // `under` is normal and so is rel (a merged-view path, or names a directory listing gave):
        // joined, not normalised again here (finalizeEntries still checks every path).
        entries.push(place(entry, rel === '' ? under : under === '' ? rel : `${under}/${rel}`, under));
        if ((entries.length & 4095) === 0) collectIfGrown();
      }
    }
  }
  const createdBy = `${kw}${inst.from ? ` --from=${inst.from}` : ''}${inst.chown ? ` --chown=${inst.chown}` : ''}${inst.chmod ? ` --chmod=${inst.chmod}` : ''} ${[...sources, rawDest].join(' ')}`;
  return { entries, owner, createdBy };
}

/** `<<EOF`, `<<-EOF`, `<<"EOF"` → EOF; undefined when `s` is not a heredoc marker. */
export function heredocNameOf(s: string): string | undefined {
  const m = /^<<-?(["']?)([^"']+)\1$/.exec(s);
  return m ? m[2] : undefined;
}

function expandHeredoc(content: string, env: VarMap, escape: string): string {
  // Only variables are expanded in a heredoc body: quotes stay as written.
  return content.replace(/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*/g, (m) => expandWord(m, env, escape));
}
