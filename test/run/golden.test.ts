import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';
import { GOLDEN_CASES } from './golden/cases.js';
import { describeEntry, wrapCase, type GoldenResult } from './golden/wrap.js';

// Issue 27 §2: the golden corpus, replayed through the native interpreter. busybox-1.36.json
// was recorded from the real busybox (test/interop/golden-busybox.test.ts checks it still is).

const recorded = JSON.parse(readFileSync(new URL('./golden/busybox-1.36.json', import.meta.url), 'utf8')) as Record<string, GoldenResult>;
const same = GOLDEN_CASES.filter((c) => !c.refused);

let base: string;
const got = new Map<string, GoldenResult>();

/** The cases' results from one build: a stage per case (each on a fresh base, so /etc edits do not meet), collected into one image. */
async function replay(cases: typeof same): Promise<Map<string, GoldenResult>> {
  const stages = cases.map((c, i) => `FROM ${base} AS c${i}\nRUN <<'GOLDEN_EOF'\n${wrapCase(c)}GOLDEN_EOF\n`);
  const collect = cases.map((_c, i) => `COPY --from=c${i} /g /c${i}/g\nCOPY --from=c${i} /o /status /c${i}/`);
  const r = await buildFrom(`${stages.join('')}FROM scratch\n${collect.join('\n')}\n`, {}, { isolation: 'native' });
  const all = flatten(r.layers);
  const out = new Map<string, GoldenResult>();
  cases.forEach((c, i) => {
    const files: Record<string, string> = {};
    for (const [name, e] of all) {
      if (!name.startsWith(`c${i}/g/`)) continue;
      const type = e.type === 'directory' ? 'directory' : e.type === 'symlink' ? 'symlink' : 'file';
      files[name.slice(`c${i}/g/`.length)] = describeEntry(type, e.mode, type === 'symlink' ? e.linkname ?? '' : e.content ?? '');
    }
    out.set(c.name, { stdout: all.get(`c${i}/o`)?.content ?? '', status: Number(all.get(`c${i}/status`)?.content ?? 'NaN'), files });
  });
  return out;
}

beforeAll(async () => {
  base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`;
  try {
    for (const [k, v] of await replay(same)) got.set(k, v);
  } catch {
    // One case failed the build: replay each alone, so each test says what its case did.
    for (const c of same) {
      try { for (const [k, v] of await replay([c])) got.set(k, v); } catch (e) { got.set(c.name, { error: (e as Error).message } as unknown as GoldenResult); }
    }
  }
}, 120_000);

describe('the golden busybox corpus, natively', () => {
  it('has a recording for every case', () => {
    expect(GOLDEN_CASES.map((c) => c.name).filter((n) => !recorded[n])).toEqual([]);
  });

  it.each(same.map((c) => [c.name, c] as const))('%s gives what busybox gives', (name) => {
    expect(got.get(name)).toEqual(recorded[name]);
  });

  it.each(GOLDEN_CASES.filter((c) => c.refused).map((c) => [c.name, c] as const))('%s is refused, not half-run', async (_name, c) => {
    await expect(buildFrom(`FROM ${base}\nRUN <<'GOLDEN_EOF'\n${wrapCase(c)}GOLDEN_EOF\n`, {}, { isolation: 'native' })).rejects.toMatchObject({ code: 'RUN_UNSUPPORTED' });
  });
});
