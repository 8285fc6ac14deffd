import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The house builds downward only (docs/ARCHITECTURE.md, DESIGN.md): each folder of src/ imports
// only from folders of a lower rank. Folders of the same rank (remote/ and layout/) do not
// import each other.
const RANK: Record<string, number> = {
  'errors.ts': -1, util: 0,
  oci: 1,
  store: 2,
  layer: 3,
  image: 4,
  remote: 5, layout: 5,
  source: 6,
  dockerfile: 7,
  run: 8, attest: 8,
  builder: 9,
  cli: 10,
  'index.ts': 11,
};

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const top = (file: string): string => relative(SRC, file).split('/')[0]!;

describe('the import graph of src/', () => {
  const files = walk(SRC);

  it('knows the rank of every top-level folder', () => {
    const unknown = [...new Set(files.map(top))].filter((t) => !(t in RANK));
    expect(unknown).toEqual([]);
  });

  it('only ever imports downward', () => {
    const upward: string[] = [];
    for (const f of files) {
      const from = top(f);
      for (const m of readFileSync(f, 'utf8').matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
        const target = resolve(dirname(f), m[1]!);
        if (!target.startsWith(SRC)) continue; // registry/ is its own package-level folder
        const to = top(target.replace(/\.js$/, '.ts'));
        if (to === from) continue;
        if (RANK[to]! >= RANK[from]!) upward.push(`${relative(SRC, f)} -> ${relative(SRC, target)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  // sigstore-js and the CycloneDX library cost a plain build 0.15 s and 15 MB at start-up:
  // outside attest/, only type imports, dynamic import() and attest/public-good.ts may name them.
  it('loads the signing libraries only when something signs', () => {
    const eager: string[] = [];
    for (const f of files) {
      if (top(f) === 'attest') continue;
      for (const m of readFileSync(f, 'utf8').matchAll(/^import (?!type )[^;]*from '([^']+)';/gm)) {
        const spec = m[1]!;
        if (/^@sigstore\/|^@cyclonedx\//.test(spec) || (/\/attest\//.test(spec) && !spec.endsWith('/public-good.js'))) eager.push(`${relative(SRC, f)} -> ${spec}`);
      }
    }
    expect(eager).toEqual([]);
  });
});
