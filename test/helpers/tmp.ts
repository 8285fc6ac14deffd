import { mkdtempSync, rmSync, mkdirSync, writeFileSync, symlinkSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';

/** A temporary directory removed after the test file. */
export function tempDir(prefix = 'ocimake-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A file tree spec: string = file content, { link } = symlink, { mode, content } = file with mode, null = directory. */
export type TreeSpec = Record<string, string | null | { link: string } | { content: string; mode: number }>;

/** Writes a small synthetic tree (a build context) under `root`. */
export function writeTree(root: string, spec: TreeSpec): string {
  for (const [rel, v] of Object.entries(spec)) {
    const p = join(root, rel);
    if (v === null) { mkdirSync(p, { recursive: true }); continue; }
    mkdirSync(dirname(p), { recursive: true });
    if (typeof v === 'string') writeFileSync(p, v);
    else if ('link' in v) symlinkSync(v.link, p);
    else { writeFileSync(p, v.content); chmodSync(p, v.mode); }
  }
  return root;
}
