import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { makeScratchDir, sweepDeadScratch, tempPathBeside } from '../../src/util/temp-files.js';
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

  describe('on Linux, where a run is named by its pid, start time and pid namespace', () => {
    const start = (pid: number | 'self') => { const st = readFileSync(`/proc/${pid}/stat`, 'utf8'); return st.slice(st.lastIndexOf(')') + 2).split(' ')[19]!; };
    const ns = () => /\d+/.exec(readlinkSync('/proc/self/ns/pid'))![0];

    it('names its scratch directories so', async () => {
      const dir = await makeScratchDir('build');
      try {
        expect(basename(dir)).toMatch(new RegExp(`^ocimake-${process.pid}\\.${start('self')}\\.${ns()}-build-`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('sweeps what a SIGKILLed run of this namespace left at once, and never a live run\'s', async () => {
      const root = tempDir();
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      onTestFinished(() => { child.kill('SIGKILL'); });
      await new Promise((r) => child.once('spawn', r));
      const killed = join(root, `ocimake-${child.pid}.${start(child.pid!)}.${ns()}-build-abc`);
      const live = join(root, `ocimake-${process.ppid}.${start(process.ppid)}.${ns()}-build-def`);
      const reused = join(root, `ocimake-${process.ppid}.1.${ns()}-build-ghi`); // the pid lives on, in another process
      const otherNs = join(root, `ocimake-${deadPid()}.5.1-build-jkl`);
      for (const d of [killed, live, reused, otherNs]) mkdirSync(d);
      writeFileSync(join(killed, 'layer'), 'partial');
      expect(sweepDeadScratch(root)).toBe(1); // the reused pid's; the child still runs
      expect(existsSync(reused)).toBe(false);
      expect(existsSync(killed)).toBe(true);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(sweepDeadScratch(root)).toBe(1);
      expect(existsSync(killed)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(existsSync(otherNs)).toBe(true); // another namespace's: only once it is old
    });
  });
});
