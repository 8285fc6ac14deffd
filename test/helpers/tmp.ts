import { mkdtempSync, rmSync, mkdirSync, writeFileSync, symlinkSync, chmodSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';

/** A temporary directory removed after the test file. */
export function tempDir(prefix = 'ocimake-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A file tree spec: string/Buffer = file content, { link } = symlink, { hardlinkTo } = hardlink (listed after its target), { mode, content } = file with mode, null = directory. */
export type TreeSpec = Record<string, string | Buffer | null | { link: string } | { hardlinkTo: string } | { content: string; mode: number }>;

/** Writes a small synthetic tree (a build context) under `root`. */
export function writeTree(root: string, spec: TreeSpec): string {
  for (const [rel, v] of Object.entries(spec)) {
    const p = join(root, rel);
    if (v === null) { mkdirSync(p, { recursive: true }); continue; }
    mkdirSync(dirname(p), { recursive: true });
    if (typeof v === 'string' || Buffer.isBuffer(v)) writeFileSync(p, v);
    else if ('link' in v) symlinkSync(v.link, p);
    else if ('hardlinkTo' in v) linkSync(join(root, v.hardlinkTo), p);
    else { writeFileSync(p, v.content); chmodSync(p, v.mode); }
  }
  return root;
}
