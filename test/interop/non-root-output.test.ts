import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { layoutOf, rawLayer } from '../helpers/layers.js';
import { writeTree } from '../helpers/tmp.js';
import { REPO_ROOT, requireTools } from './tools.js';

// Issue 12 (outputs): `-o type=local` and `extract` work for a user who is not root, on an
// image with read-only directories (their modes are set after their children are written).

describe('local outputs as a non-root user', () => {
  const work = join(tmpdir(), `ocimake-nonroot-${randomBytes(6).toString('hex')}`);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes read-only directories and their files', async () => {
    requireTools('runuser');
    mkdirSync(work, { recursive: true });
    chmodSync(work, 0o1777);
    const base = await layoutOf(join(work, 'ro'), [await rawLayer([
      { name: 'ro/', type: 'directory', mode: 0o555 }, { name: 'ro/sub/', type: 'directory', mode: 0o500 },
      { name: 'ro/sub/f', content: 'inside', mode: 0o444 }, { name: 'ro/g', content: 'g', mode: 0o400 },
    ])]);
    const ctx = writeTree(join(work, 'ctx'), { Dockerfile: `FROM ${base}\nCOPY note /ro-note\n`, note: 'n' });
    for (const p of [join(work, 'ro'), ctx]) spawnSync('chmod', ['-R', 'a+rX', p]);
    const out = join(work, 'out');
    const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, join(REPO_ROOT, 'bin', 'ocimake.js'), 'build', ctx, '-o', `type=local,dest=${out}`, '--cache-dir', join(work, 'cache'), '--progress=plain'], { encoding: 'utf8', env: { ...process.env, HOME: work, TMPDIR: work } });
    expect(r.status, r.stderr).toBe(0);
    expect(lstatSync(join(out, 'ro')).mode & 0o777).toBe(0o555);
    expect(lstatSync(join(out, 'ro/sub')).mode & 0o777).toBe(0o500);
    expect(lstatSync(join(out, 'ro/sub/f')).uid).toBe(65534);
    expect(readFileSync(join(out, 'ro/sub/f'), 'utf8')).toBe('inside');
  });

  it('an unreadable file in the context is a clear error, without a stack trace (issue 14)', () => {
    requireTools('runuser');
    mkdirSync(work, { recursive: true });
    chmodSync(work, 0o1777);
    const ctx = writeTree(join(work, 'ctx-secret'), { Dockerfile: 'FROM scratch\nCOPY . /app/\n', 'ok.txt': 'ok', secret: 'root only' });
    spawnSync('chmod', ['-R', 'a+rX', ctx]);
    chmodSync(join(ctx, 'secret'), 0o600);
    const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, join(REPO_ROOT, 'bin', 'ocimake.js'), 'build', ctx, '-o', `type=oci,dest=${join(work, 'o')}`, '--cache-dir', join(work, 'cache2'), '--progress=plain'], { encoding: 'utf8', env: { ...process.env, HOME: work, TMPDIR: work } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: Dockerfile:2: COPY: cannot read .*\/secret: permission denied/);
    expect(r.stderr).toMatch(/hint: make the file readable by the user running ocimake, or list it in \.dockerignore/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a HOME that cannot be written: the cache falls back to the temp dir, said once (issue 14)', () => {
    requireTools('runuser');
    mkdirSync(work, { recursive: true });
    chmodSync(work, 0o1777);
    const ctx = writeTree(join(work, 'ctx-home'), { Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'f' });
    spawnSync('chmod', ['-R', 'a+rX', ctx]);
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: '/nonexistent', TMPDIR: work };
    delete env.XDG_CACHE_HOME;
    delete env.OCIMAKE_CACHE_DIR;
    const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, join(REPO_ROOT, 'bin', 'ocimake.js'), 'build', ctx, '-o', `type=oci,dest=${join(work, 'o-home')}`, '--progress=plain'], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.match(/warning: cannot use the cache at \/nonexistent\/\.cache\/ocimake/g)).toHaveLength(1);
  });
});
