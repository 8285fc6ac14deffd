import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alpineLayout } from '../helpers/alpine-images.js';
import { REPO_ROOT } from './tools.js';

// Issue 13 (finding 5) and 14: Ctrl-C in the middle of a build removes what the run started
// (scratch trees, the partial layer in the cache's tmp/, the *.tmp beside an archive), says
// "interrupted" and exits 130; a later run sweeps partial blobs that dead runs left behind.

describe('when a build is interrupted', () => {
  const work = mkdtempSync(join(tmpdir(), 'ocimake-interrupt-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('stops on SIGINT, removes its temporary files and exits 130', async () => {
    const ctx = join(work, 'ctx');
    mkdirSync(ctx);
    // Large and incompressible, so the layer is still being written when the signal comes.
    writeFileSync(join(ctx, 'big'), randomBytes(96 << 20));
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
    const cache = join(work, 'cache');
    const runTmp = join(work, 'tmp');
    mkdirSync(runTmp);
    // A partial blob a dead run left (pid 999999 is not running).
    mkdirSync(join(cache, 'tmp'), { recursive: true });
    writeFileSync(join(cache, 'tmp', '999999-deadbeefdeadbeef'), 'partial');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ocimake.js'), 'build', ctx, '-o', `type=docker,dest=${join(work, 'out.tar')}`, '-t', 'x:1', '--cache-dir', cache, '--progress=plain'], {
      env: { ...process.env, TMPDIR: runTmp }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // Wait until this run is writing a blob of its own, then interrupt it.
    const mine = () => (existsSync(join(cache, 'tmp')) ? readdirSync(join(cache, 'tmp')).filter((n) => n.startsWith(`${child.pid}-`)) : []);
    for (let i = 0; i < 2000 && mine().length === 0 && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 10));
    expect(mine().length, stderr).toBeGreaterThan(0);
    expect(existsSync(join(cache, 'tmp', '999999-deadbeefdeadbeef'))).toBe(false); // swept by this run
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/interrupted \(SIGINT\)/);
    expect(readdirSync(join(cache, 'tmp'))).toEqual([]);
    expect(readdirSync(runTmp)).toEqual([]);
    expect(readdirSync(work).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(join(work, 'out.tar'))).toBe(false);
  });

  it('stops on SIGTERM during a busy native RUN, leaving nothing behind', async () => {
    // Issue 27 §1: the interpreter never yielded to the event loop, so a CI job's cancel was
    // ignored until SIGKILL (10 minutes later in the report).
    const ctx = join(work, 'busy');
    mkdirSync(ctx);
    const base = alpineLayout(join(work, 'alpine')).dir;
    writeFileSync(join(ctx, 'Dockerfile'), `FROM oci:${base}:3\nRUN while true; do while true; do :; done; done\n`);
    const runTmp = join(work, 'tmp-busy');
    mkdirSync(runTmp);
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ocimake.js'), 'build', ctx, '--isolation', 'native', '--cache-dir', join(work, 'cache-busy'), '--progress=plain'], {
      env: { ...process.env, TMPDIR: runTmp, OCIMAKE_MAX_RUN_LOOP_ITERATIONS: '1000000000' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const running = new Promise<void>((r) => child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); if (/RUN while true/.test(stderr)) r(); }));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await Promise.race([running, exited]);
    await new Promise((r) => setTimeout(r, 1000)); // well into the loop
    expect(child.exitCode, stderr).toBeNull();
    child.kill('SIGTERM');
    // A guard against a hang, not a timing claim: before, the build ran on until SIGKILL.
    const code = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 5000))]);
    if (code === 'still running') child.kill('SIGKILL');
    expect(code, stderr).toBe(143);
    expect(stderr).toMatch(/interrupted \(SIGTERM\)/);
    expect(readdirSync(runTmp)).toEqual([]);
  });
});
