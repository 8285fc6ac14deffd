import { basename, posix } from 'node:path';
import { OcimakeError } from '../errors.js';
import { copyOut } from '../image/copy-out.js';
import type { MergedFs } from '../image/merged-fs.js';
import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';
import { expandWord, type VarMap } from '../dockerfile/shell-lex.js';
import type { Instruction } from '../dockerfile/instructions.js';
import { parseChmod, parseChown, type CopyPlan } from './copy.js';
import type { FsState } from './fs-state.js';

type CopyInstruction = Extract<Instruction, { kind: 'copy' | 'add' }>;

/** An image to copy from: a stage of this build or any image source. */
export interface FromSource { fs: MergedFs; what: string }

export interface CopyFromInputs {
  inst: CopyInstruction;
  from: FromSource;
  fs: FsState;
  env: VarMap;
  workdir: string;
  escape: string;
  scratch: string;
  lookupId?: (kind: 'user' | 'group', name: string) => number | undefined;
}

/**
 * Plans `COPY --from=<stage|image> SRC... DEST` with the same destination rules as a COPY
 * from the context: a source directory's contents are copied, a trailing `/` or an existing
 * directory means "into", several sources need a directory. Only the layers of the source
 * image that hold the requested paths are read.
 */
export async function planCopyFrom(inp: CopyFromInputs): Promise<CopyPlan> {
  const { inst, env, escape } = inp;
  const owner = inst.chown !== undefined ? parseChown(expandWord(inst.chown, env, escape), inp.lookupId) : undefined;
  const chmod = inst.chmod !== undefined ? parseChmod(expandWord(inst.chmod, env, escape)) : undefined;
  const rawDest = expandWord(inst.dest, env, escape);
  const destAbs = rawDest.startsWith('/') ? rawDest : posix.join(inp.workdir || '/', rawDest);
  await inp.fs.ensure([destAbs]);
  const dest = await inp.fs.realDir(destAbs);
  const sources = inst.sources.map((s) => expandWord(s, env, escape));
  const destIsDir = /\/\.?$/.test(rawDest) || rawDest === '.' || inp.fs.isDirectory(dest);
  if (sources.length > 1 && !destIsDir) {
    throw new OcimakeError('COPY_DEST_NOT_DIR', 'When using COPY with more than one source file, the destination must be a directory and end with a /', { hint: `write the destination as "${rawDest}/"` });
  }
  const copied = await copyOut(inp.from.fs, sources, inp.scratch, inp.from.what);
  if (copied.length > 1 && !destIsDir) {
    throw new OcimakeError('COPY_DEST_NOT_DIR', 'When using COPY with more than one source file, the destination must be a directory and end with a /', { hint: `the sources matched ${copied.length} paths; write the destination as "${rawDest}/"` });
  }
  const entries: LayerEntry[] = [];
  const fix = (e: LayerEntry, path: string): LayerEntry => {
    const out = { ...e, path } as LayerEntry;
    if (owner) { out.uid = owner.uid; out.gid = owner.gid; }
    if (chmod !== undefined && out.type !== 'symlink') out.mode = chmod;
    if (out.type === 'hardlink') out.linkname = normalizeEntryPath(`${dest}/${out.linkname}`);
    return out;
  };
  for (const c of copied) {
    if (c.kind === 'file') {
      const target = destIsDir ? `${dest}/${basename(c.requested)}` : dest;
      entries.push(fix(c.entries[0]!.entry, normalizeEntryPath(target)));
      continue;
    }
    if (dest !== '' && !inp.fs.isDirectory(dest)) entries.push({ type: 'directory', path: dest, mode: 0o755, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0 });
    for (const { rel, entry } of c.entries) entries.push(fix(entry, normalizeEntryPath(`${dest}/${rel}`)));
  }
  const createdBy = `COPY --from=${inst.from ?? ''}${inst.chown ? ` --chown=${inst.chown}` : ''}${inst.chmod ? ` --chmod=${inst.chmod}` : ''} ${[...sources, rawDest].join(' ')}`;
  return { entries, owner: owner ?? { uid: 0, gid: 0 }, createdBy };
}
