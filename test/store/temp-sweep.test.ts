import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sweepDeadScratch, tempPathBeside } from '../../src/util/temp-files.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 14: a run that was killed (kill -9, out of memory) leaves temporary files; the next
// run removes those of dead processes and never those of live ones.

function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('stale temporary files of dead runs', () => {
  it('are swept beside an output before it is written again', () => {
    const dir = tempDir();
    const out = join(dir, 'app.tar');
    const dead = join(dir, `app.tar.${deadPid()}.0a1b2c.tmp`);
    const live = join(dir, `app.tar.${process.ppid}.0a1b2c.tmp`);
    const other = join(dir, `other.tar.${deadPid()}.0a1b2c.tmp`);
    for (const f of [dead, live, other]) writeFileSync(f, 'partial');
    const tmp = tempPathBeside(out);
    expect(tmp).toMatch(new RegExp(`app\\.tar\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`));
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true);
  });

  it('are swept from the temp dir when their process is gone and they are old', () => {
    const root = tempDir();
    const now = Date.now();
    const old = (now - 3_600_000) / 1000;
    const deadOld = join(root, `ocimake-${deadPid()}-build-abc`);
    const deadFresh = join(root, `ocimake-${deadPid()}-build-def`);
    const liveOld = join(root, `ocimake-${process.ppid}-build-ghi`);
    const notOurs = join(root, 'ocimake-test-123');
    for (const d of [deadOld, deadFresh, liveOld, notOurs]) mkdirSync(d);
    writeFileSync(join(deadOld, 'layer'), 'x');
    for (const d of [deadOld, liveOld, notOurs]) utimesSync(d, old, old);
    expect(sweepDeadScratch(root, now)).toBe(1);
    expect(existsSync(deadOld)).toBe(false);
    for (const d of [deadFresh, liveOld, notOurs]) expect(existsSync(d)).toBe(true);
  });
});
