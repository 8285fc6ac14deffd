import { promises as fs } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { OcimakeError } from '../errors.js';
import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';
import { expandWord, type VarMap } from '../dockerfile/shell-lex.js';
import type { Instruction } from '../dockerfile/instructions.js';
import { detectArchive, extractArchiveEntries } from './archive.js';
import type { BuildContext, ContextMatch } from './context.js';
import type { MergedFs } from '../image/merged-fs.js';
import { hasGlob } from '../util/glob.js';
import { excludeMatcher, refuseUnsupportedFlags } from './copy-filters.js';

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
  context: BuildContext;
  /** A directory for temporary files (ADD archive extraction). */
  scratch: string;
  /** Resolves a user or group name to an id from the stage's /etc/passwd and /etc/group. */
  lookupId?: (kind: 'user' | 'group' | 'primary-gid', name: string) => number | undefined;
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

/** Parses an octal `--chmod` value (e.g. 755 or 0644). */
export function parseChmod(spec: string): number {
  if (!/^[0-7]{3,4}$/.test(spec)) throw new OcimakeError('CHMOD_INVALID', `invalid --chmod value "${spec}"`, { hint: 'use an octal mode such as --chmod=755 or --chmod=0644' });
  return parseInt(spec, 8);
}

/**
 * Plans a COPY or ADD from the build context (or its heredocs): expands the arguments,
 * resolves wildcards, applies Docker's destination rules (a trailing `/` or an existing
 * directory means "into"; several sources need a directory), copies directory contents
 * rather than the directory, keeps symlinks and hardlinks, and for ADD extracts local tar
 * archives.
 */
export async function planCopy(inp: CopyInputs): Promise<CopyPlan> {
  const { inst, env, escape } = inp;
  const kw = inst.kind.toUpperCase();
  refuseUnsupportedFlags(inst);
  const excluded = excludeMatcher(inst, env, escape);
  const owner = inst.chown !== undefined ? parseChown(expandWord(inst.chown, env, escape), inp.lookupId) : { uid: 0, gid: 0 };
  const chmod = inst.chmod !== undefined ? parseChmod(expandWord(inst.chmod, env, escape)) : undefined;
  const { rawDest, dest, destIsDir } = await resolveDest(inp);
  const heredocs = new Map(inst.heredocs.map((h) => [h.name, h]));
  const sources = inst.sources.map((s) => (heredocNameOf(s) !== undefined && heredocs.has(heredocNameOf(s)!) ? s : expandWord(s, env, escape)));
  if ((sources.length > 1 || inst.parents) && !destIsDir) throw destNotDir(kw, rawDest);
  const entries: LayerEntry[] = [];
  const perm = (m: number) => (chmod !== undefined ? chmod : m & 0o7777);
  let scratchN = 0;
  for (const src of sources) {
    const hd = heredocs.get(heredocNameOf(src) ?? '');
    if (hd) {
      const content = hd.expand ? expandHeredoc(hd.content, env, escape) : hd.content;
      const path = destIsDir ? join(dest, hd.name) : dest;
      const data = Buffer.from(content, 'utf8');
      entries.push({ type: 'file', path, mode: chmod ?? 0o644, uid: owner.uid, gid: owner.gid, size: data.length, source: { kind: 'bytes', data } });
      continue;
    }
    if (/^(https?:\/\/|git@)/.test(src)) {
      throw new OcimakeError('UNSUPPORTED', `${kw} from a URL ("${src}") is not supported yet`, { hint: 'download the file into the build context first, then COPY it' });
    }
    const matches = await inp.context.resolveSource(src);
    // As BuildKit: a wildcard that matches nothing copies nothing, and is no error.
    if (matches.length === 0 && hasGlob(src)) continue;
    if (matches.length === 0) {
      throw new OcimakeError('SOURCE_NOT_FOUND', hasGlob(src) ? `no source files were specified: "${src}" matches nothing in the build context` : `"${src}" not found in the build context or excluded by .dockerignore`, {
        hint: `check the path relative to ${inp.context.root} and your .dockerignore`,
      });
    }
    if (matches.length > 1 && !destIsDir) throw destNotDir(kw, rawDest, `"${src}" matched ${matches.length} paths`);
    for (const m of matches) {
      if (excluded?.(m.rel)) continue;
      // --parents keeps the source's path (relative to the context) under the destination.
      if (m.stat.isDirectory()) {
        entries.push(...(await dirEntries(inp, m, inst.parents ? join(dest, m.rel) : dest, owner, perm, excluded)));
        continue;
      }
      const target = inst.parents ? join(dest, m.rel) : destIsDir ? join(dest, basename(m.rel)) : dest;
      if (inst.kind === 'add' && m.stat.isFile()) {
        const kind = await detectArchive(m.abs);
        if (kind) {
          if (chmod !== undefined) throw new OcimakeError('UNSUPPORTED', 'ADD --chmod cannot be used when ADD extracts an archive', { hint: 'drop --chmod or COPY the archive instead' });
          entries.push(...(await extractArchiveEntries(m.abs, kind, dest, join(inp.scratch, `add-${scratchN++}`), inst.chown !== undefined ? owner : undefined)));
          continue;
        }
      }
      if (!m.stat.isFile()) throw new OcimakeError('SOURCE_INVALID', `"${m.rel}" is not a regular file or directory`, { hint: 'sockets, fifos and devices cannot be copied into an image' });
      entries.push({ type: 'file', path: target, mode: perm(m.stat.mode), uid: owner.uid, gid: owner.gid, size: m.stat.size, source: { kind: 'path', path: m.abs } });
    }
  }
  const createdBy = `${kw}${inst.from ? ` --from=${inst.from}` : ''}${inst.chown ? ` --chown=${inst.chown}` : ''}${inst.chmod ? ` --chmod=${inst.chmod}` : ''} ${[...sources, rawDest].join(' ')}`;
  return { entries, owner, createdBy };
}

async function dirEntries(inp: CopyInputs, m: ContextMatch, dest: string, owner: Owner, perm: (m: number) => number, excluded?: (rel: string) => boolean): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  if (dest !== '' && !(await inp.fs.isDirectory(dest))) out.push({ type: 'directory', path: dest, mode: 0o755, uid: owner.uid, gid: owner.gid });
  const seen = new Map<string, string>(); // dev:ino -> first in-image path, for hardlinks
  for (const c of await inp.context.walk(m.rel)) {
    const rel = m.rel === '' ? c.rel : c.rel.slice(m.rel.length + 1);
    if (excluded?.(rel)) continue;
    const path = normalizeEntryPath(`${dest}/${rel}`);
    const base = { path, uid: owner.uid, gid: owner.gid };
    if (c.stat.isDirectory()) out.push({ ...base, type: 'directory', mode: perm(c.stat.mode) });
    else if (c.stat.isSymbolicLink()) out.push({ ...base, type: 'symlink', mode: 0o777, linkname: await fs.readlink(c.abs) });
    else if (c.stat.isFile()) {
      const key = `${c.stat.dev}:${c.stat.ino}`;
      const first = c.stat.nlink > 1 ? seen.get(key) : undefined;
      if (first) out.push({ ...base, type: 'hardlink', mode: perm(c.stat.mode), linkname: first });
      else {
        if (c.stat.nlink > 1) seen.set(key, path);
        out.push({ ...base, type: 'file', mode: perm(c.stat.mode), size: c.stat.size, source: { kind: 'path', path: c.abs } });
      }
    }
  }
  return out;
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
