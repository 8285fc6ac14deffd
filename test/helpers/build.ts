import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions, type BuildResult } from '../../src/builder/build.js';
import { readTar, type ReadEntry } from './tar.js';
import { writeTree, type TreeSpec } from './tmp.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'ocimake-test-cache-'));

/** Builds `dockerfile` in a fresh context made from `tree`; returns the result and each layer's entries. */
export async function buildFrom(dockerfile: string, tree: TreeSpec = {}, opts: Partial<BuildOptions> = {}): Promise<BuildResult & { layers: ReadEntry[][]; context: string }> {
  const context = mkdtempSync(join(tmpdir(), 'ocimake-ctx-'));
  writeTree(context, tree);
  writeFileSync(join(context, 'Dockerfile'), dockerfile);
  const result = await build({ context, cacheDir, ...opts });
  const layers: ReadEntry[][] = [];
  for (const l of result.image.layers) layers.push(await readTar(await l.source.open(l.descriptor.digest)));
  return { ...result, layers, context };
}

/** Entries of all layers as `name → entry` (later layers win). */
export function flatten(layers: ReadEntry[][]): Map<string, ReadEntry> {
  const m = new Map<string, ReadEntry>();
  for (const l of layers) for (const e of l) m.set(e.name.replace(/\/$/, ''), e);
  return m;
}
