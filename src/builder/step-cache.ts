import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Instruction } from '../dockerfile/instructions.js';
import { expandWord, type VarMap } from '../dockerfile/shell-lex.js';
import type { Image } from '../image/image.js';
import type { LayerCompression } from '../layer/tar-writer.js';
import type { Cache } from '../store/cache.js';
import type { BuildContext, ContextMatch } from './context.js';
import { heredocNameOf } from './copy.js';
import { isGitSource, isUrlSource } from '../remote/url-fetch.js';
import { ApkPinSchema } from './lock.js';

// The step cache: a COPY (or ADD) answered before it is planned. The layer cache
// keys a layer by its entries and their contents, which takes planning the copy on the stage's
// filesystem (placeEntries) and a stat of every file: most of an unchanged rebuild's time (W4).
// A step key names everything that planning and writing read instead: the layers below (by
// blob digest and diffID, which fix the filesystem and so every destination, symlink and /etc/passwd lookup),
// the instruction, the variables, WORKDIR, the escape character, the mtime and compression,
// and what the context walk saw of each source (names, modes, owners, sizes, device, inode,
// link count, mtime and ctime: the stat cache's signature). Its record names the layer-cache
// key of the layer the step made, which still must have its blob to be a hit. A hit leaves
// the layer's entries unmade; the stage's filesystem makes them if a later step reads it.
// A COPY --from is keyed the same way, with the layers of the stage or image it reads in
// place of the context walk: a rebuild copying a large, unchanged stage plans nothing.

// v2: layers are named by blob digest and diffID (v1: diffID alone). v3: a RUN's record names
// the apk packages it installed (ocimake.lock), which a v2 record does not know.
const FORMAT = 'ocimake-step-v3';

const StepRecord = z.object({
  format: z.literal(FORMAT),
  layerKey: z.string().regex(/^[0-9a-f]{64}$/),
  createdBy: z.string(),
  /** What a RUN downloaded (wget, curl), by redacted URL and digest: a hit still names them in provenance. */
  materials: z.array(z.object({ uri: z.string(), digest: z.string() })).optional(),
  /** The apk packages a native RUN installed (without the platform, which the key fixes): a hit still pins them in ocimake.lock. */
  apk: z.array(ApkPinSchema.omit({ platform: true })).optional(),
});
export type StepRecord = Pick<z.infer<typeof StepRecord>, 'layerKey' | 'createdBy' | 'materials' | 'apk'>;

/** What a RUN's result depends on, all known before it runs (BuildKit keys an exec op the same way). */
export interface RunStepInputs {
  inst: Extract<Instruction, { kind: 'cmd' | 'entrypoint' | 'shell' | 'run' }>;
  /** The layers below: the filesystem the command sees. */
  image: Image;
  /** Every variable the command sees: the stage's ARGs and ENV. */
  vars: VarMap;
  workdir: string;
  user: string;
  shell: readonly string[];
  escape: string;
  mtime: number;
  compression: LayerCompression | undefined;
  /** The build's settings that change what a RUN makes: the platform (uname), the isolation, apk's options. */
  settings: string;
}

/**
 * The step key of a RUN, computed before it runs, so a hit runs nothing and fetches nothing
 * (`apk add -U` is answered from the cache, as Docker and BuildKit answer it: bust it with a
 * build arg the RUN sees, `--no-cache-filter STAGE` or `--no-cache`). Its inputs: the
 * instruction (command text, heredocs, --mount and --network flags: a cache mount by its
 * target, never its content, which is not kept), the layers below by blob digest and diffID,
 * the variables, WORKDIR, USER, SHELL, the escape character, the mtime and compression of
 * the layer, and the build's settings. test/builder/run-step-key.test.ts flips each one.
 */
export function runStepKey(inp: RunStepInputs): string {
  const { line: _line, endLine: _end, original: _orig, ...shape } = inp.inst;
  const h = createHash('sha256');
  h.update(`${FORMAT} run\n${JSON.stringify(shape)}\n`);
  h.update(`${JSON.stringify(layerIds(inp.image))}\n`);
  h.update(`${JSON.stringify([...inp.vars].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))}\n`);
  h.update(`${JSON.stringify([inp.workdir, inp.user, inp.shell, inp.escape, inp.mtime, inp.compression ?? null, inp.settings])}\n`);
  return h.digest('hex');
}

export interface StepInputs {
  inst: Extract<Instruction, { kind: 'copy' | 'add' }>;
  image: Image;
  vars: VarMap;
  workdir: string;
  escape: string;
  mtime: number;
  compression: LayerCompression | undefined;
  context: BuildContext;
  /** For COPY --from: the source's layers (layerIds), which fix everything it reads. */
  fromLayers?: readonly string[];
}

/**
 * An image's layers as a step key names them: blob digest and diffID. The blob digest is what
 * a download verifies; a diffID is only what the image's config claims, and a config that
 * claimed another image's diffIDs must not be answered with the steps made on that image.
 */
export function layerIds(image: Image): string[] {
  return image.layers.map((l) => `${l.descriptor.digest} ${l.diffId}`);
}

/** The step key of a COPY (from the build context, a stage or an image) or an ADD from the context; undefined where the step cache does not apply (URLs). */
export async function copyStepKey(inp: StepInputs): Promise<string | undefined> {
  const { inst } = inp;
  // ADD from the context is keyed as COPY is (an archive it extracts is one of the sources
  // walked, so an edit moves its ctime); ADD --from is an error the plan reports.
  if (inst.from !== undefined && (inst.kind !== 'copy' || inp.fromLayers === undefined)) return undefined;
  const { line: _line, endLine: _end, original: _orig, ...shape } = inst;
  const h = createHash('sha256');
  h.update(`${FORMAT}\n${JSON.stringify(shape)}\n`);
  h.update(`${JSON.stringify(layerIds(inp.image))}\n`);
  h.update(`${JSON.stringify([...inp.vars].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))}\n`);
  h.update(`${JSON.stringify([inp.workdir, inp.escape, inp.mtime, inp.compression ?? null])}\n`);
  if (inp.fromLayers !== undefined) {
    // The source's layers, and the arguments as the plan expands them.
    h.update(`from ${JSON.stringify(inp.fromLayers)}\n`);
    for (const src of inst.sources) h.update(`source ${JSON.stringify(expandWord(src, inp.vars, inp.escape))}\n`);
    return h.digest('hex');
  }
  const heredocs = new Set(inst.heredocs.map((d) => d.name));
  const add = (c: ContextMatch) => {
    const s = c.stat;
    h.update(`${JSON.stringify(c.rel)}\t${s.mode}\t${s.uid}\t${s.gid}\t${s.size}\t${s.dev}\t${s.ino}\t${s.nlink}\t${s.mtimeMs}\t${s.ctimeMs}\n`);
  };
  for (const src of inst.sources) {
    const name = heredocNameOf(src);
    if (name !== undefined && heredocs.has(name)) continue; // its text is in the instruction
    const expanded = expandWord(src, inp.vars, inp.escape);
    if (isUrlSource(expanded) || isGitSource(expanded)) return undefined;
    h.update(`source ${JSON.stringify(expanded)}\n`);
    for (const m of await inp.context.resolveSource(expanded)) {
      add(m);
      if (m.stat.isDirectory()) for (const c of await inp.context.walk(m.rel, true)) add(c);
    }
  }
  return h.digest('hex');
}

/** The record of a step key, or undefined (none, or written by another version); a hit is marked used. */
export async function readStep(cache: Cache, key: string): Promise<StepRecord | undefined> {
  return cache.readRecord(cache.recordPath('steps', key), StepRecord);
}

/** Records what a step made (written atomically: a reader sees all of it or nothing). */
export async function writeStep(cache: Cache, key: string, rec: StepRecord): Promise<void> {
  await cache.writeRecord(cache.recordPath('steps', key), { format: FORMAT, ...rec });
}
