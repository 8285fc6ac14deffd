import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, requireTools } from './tools.js';

// Issue 24, "no crash, nothing left behind", with the real bin: an output a non-root user
// cannot write is refused before the build in one error line; a reader of `-o -` that goes
// away ends the build quietly; what a SIGKILLed build left in the temp dir is swept by the next.

const BIN = join(REPO_ROOT, 'bin', 'ocimake.js');

describe('how a build process ends', () => {
  const work = mkdtempSync(join(tmpdir(), 'ocimake-ends-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  chmodSync(work, 0o1777);
  const ctx = join(work, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'big'), randomBytes(4 << 20));
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
  spawnSync('chmod', ['-R', 'a+rX', ctx]);

  it('as a user who may not write the destination: one error line before the build, no uncaught exception', () => {
    requireTools('runuser');
    const ro = join(work, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    for (const spec of [`type=docker,dest=${ro}/img.tar`, `type=oci,dest=${ro}/img.tar`]) {
      const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BIN, 'build', ctx, '-o', spec, '--progress=plain', '--cache-dir', join(work, 'cache-nobody')], { encoding: 'utf8', env: { ...process.env, HOME: work, TMPDIR: work } });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^error: -o ${spec.replace(/[.]/g, '\\.')}: .* cannot be written: .*permission denied$`, 'm'));
      expect(r.stderr).not.toMatch(/node:internal|triggerUncaughtException|COPY big/);
    }
  });

  it('-o - into a pipe whose reader stops after 100 bytes ends quietly, as a program killed by SIGPIPE', async () => {
    const runTmp = join(work, 'tmp-pipe');
    mkdirSync(runTmp);
    const child = spawn(process.execPath, [BIN, 'build', ctx, '-q', '-o', '-', '--cache-dir', join(work, 'cache')], { env: { ...process.env, TMPDIR: runTmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let got = 0;
    child.stdout.on('data', (d: Buffer) => { got += d.length; if (got >= 100) child.stdout.destroy(); });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(stderr).toBe('');
    expect(code).toBe(141);
    expect(readdirSync(runTmp)).toEqual([]);
  });

  it('the next run sweeps the scratch directory a SIGKILLed build left', async () => {
    // A server that never finishes the file holds the build in ADD while its scratch directory exists.
    const server = createServer((_req, res) => { res.writeHead(200, { 'content-length': '1000000' }); res.write('x'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const slow = join(work, 'slow');
      mkdirSync(slow);
      writeFileSync(join(slow, 'Dockerfile'), `FROM scratch\nADD http://127.0.0.1:${port}/never /never\n`);
      const runTmp = join(work, 'tmp-kill');
      mkdirSync(runTmp);
      const env = { ...process.env, TMPDIR: runTmp };
      const child = spawn(process.execPath, [BIN, 'build', slow, '-o', join(work, 'never-out'), '--cache-dir', join(work, 'cache')], { env, stdio: 'ignore' });
      for (let i = 0; i < 2000 && !readdirSync(runTmp).some((n) => n.startsWith(`ocimake-${child.pid}.`)) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 10));
      expect(readdirSync(runTmp).filter((n) => n.startsWith(`ocimake-${child.pid}.`))).toHaveLength(1);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(readdirSync(runTmp), readdirSync(runTmp).join(' ')).toHaveLength(1); // what the killed run left
      const next = spawnSync(process.execPath, [BIN, 'build', ctx, '-o', join(work, 'next-out'), '--cache-dir', join(work, 'cache')], { env, encoding: 'utf8' });
      expect(next.status, next.stderr).toBe(0);
      expect(readdirSync(runTmp)).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
