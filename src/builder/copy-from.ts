import { basename } from 'node:path';
import { copyOut } from '../image/copy-out.js';
import type { MergedFs } from '../image/merged-fs.js';
import { normalizeEntryPath, type LayerEntry } from '../layer/entry.js';
import { expandWord } from '../dockerfile/shell-lex.js';
import { excludeMatcher, refuseUnsupportedFlags } from './copy-filters.js';
import { destNotDir, parseChmod, parseChown, resolveDest, type CopyInputs, type CopyPlan } from './copy.js';

/** An image to copy from: a stage of this build or any image source. */
export interface FromSource { fs: MergedFs; what: string }

export interface CopyFromInputs extends Omit<CopyInputs, 'context'> {
  from: FromSource;
}

/**
 * Plans `COPY --from=<stage|image> SRC... DEST` with the same destination rules as a COPY
 * from the context: a source directory's contents are copied, a trailing `/` or an existing
 * directory means "into", several sources need a directory. Only the layers of the source
 * image that hold the requested paths are read.
 */
export async function planCopyFrom(inp: CopyFromInputs): Promise<CopyPlan> {
  const { inst, env, escape } = inp;
  refuseUnsupportedFlags(inst);
  const excluded = excludeMatcher(inst, env, escape);
  const owner = inst.chown !== undefined ? parseChown(expandWord(inst.chown, env, escape), inp.lookupId) : undefined;
  const chmod = inst.chmod !== undefined ? parseChmod(expandWord(inst.chmod, env, escape)) : undefined;
  const { rawDest, dest, destIsDir } = await resolveDest(inp);
  const sources = inst.sources.map((s) => expandWord(s, env, escape));
  if ((sources.length > 1 || inst.parents) && !destIsDir) throw destNotDir('COPY', rawDest);
  const copied = await copyOut(inp.from.fs, sources, inp.scratch, inp.from.what, { allowEmptyWildcard: true });
  if (copied.length > 1 && !destIsDir) throw destNotDir('COPY', rawDest, `the sources matched ${copied.length} paths`);
  const entries: LayerEntry[] = [];
  const fix = (e: LayerEntry, path: string, base = dest): LayerEntry => {
    const out = { ...e, path } as LayerEntry;
    if (owner) { out.uid = owner.uid; out.gid = owner.gid; }
    if (chmod !== undefined && out.type !== 'symlink') out.mode = chmod;
    if (out.type === 'hardlink') out.linkname = normalizeEntryPath(`${base}/${out.linkname}`);
    return out;
  };
  for (const c of copied) {
    const requested = normalizeEntryPath(c.requested);
    // --parents keeps the source's path (in the image) under the destination.
    const under = inst.parents ? normalizeEntryPath(`${dest}/${requested}`) : dest;
    if (c.kind === 'file') {
      if (excluded?.(requested)) continue;
      const target = inst.parents ? under : destIsDir ? `${dest}/${basename(c.requested)}` : dest;
      entries.push(fix(c.entries[0]!.entry, normalizeEntryPath(target)));
      continue;
    }
    if (under !== '' && !(await inp.fs.isDirectory(under))) entries.push({ type: 'directory', path: under, mode: 0o755, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0 });
    for (const { rel, entry } of c.entries) {
      if (excluded?.(rel)) continue;
      entries.push(fix(entry, normalizeEntryPath(`${under}/${rel}`), under));
    }
  }
  const createdBy = `COPY --from=${inst.from ?? ''}${inst.chown ? ` --chown=${inst.chown}` : ''}${inst.chmod ? ` --chmod=${inst.chmod}` : ''} ${[...sources, rawDest].join(' ')}`;
  return { entries, owner: owner ?? { uid: 0, gid: 0 }, createdBy };
}
