import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { buildAndExport } from '../../src/builder/export.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 25: the build's planner knows every base image before anything runs, and the scheduler
// looks them all up at once: a stage's FROM does not wait for the stages it depends on.

describe('the build graph', () => {
  let reg: RunningRegistry;
  const events: string[] = [];
  let work: string;
  let local: string;
  beforeAll(async () => {
    work = tempDir();
    local = `oci:${alpineLayout(join(work, 'alpine')).dir}:3`;
    reg = await startRegistry({ log: (l) => { if (/^(GET|HEAD) \/v2\/lib\/base\/manifests\//.test(l)) events.push('base manifest'); } });
    const base = writeTree(join(work, 'base'), { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
    await buildAndExport({ context: base, tags: [`${reg.host}/lib/base:1`], push: true, cacheDir: join(work, 'cache') });
  });
  afterAll(async () => reg?.close());

  it('looks up a later stage\'s base image while an earlier stage still runs', async () => {
    const ctx = writeTree(join(work, 'app'), {
      Dockerfile: `FROM ${local} AS slow\nRUN seq 200000 > /numbers\nFROM ${reg.host}/lib/base:1\nCOPY --from=slow /numbers /numbers\n`,
    });
    events.length = 0;
    await buildAndExport({ context: ctx, cacheDir: join(work, 'cache'), isolation: 'native', onProgress: (e) => { if (e.kind === 'stage-done') events.push(`stage ${e.stage.index} done`); } });
    expect(events.indexOf('base manifest')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('base manifest')).toBeLessThan(events.indexOf('stage 0 done'));
    // Once per image and platform, though two paths ask for it (the look-up ahead and the stage's FROM).
    expect(events.filter((e) => e === 'base manifest')).toHaveLength(1);
  });
});
