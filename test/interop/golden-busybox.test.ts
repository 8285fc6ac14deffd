import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MINIROOTFS } from '../helpers/alpine-images.js';
import { GOLDEN_CASES } from '../run/golden/cases.js';
import { describeEntry, wrapCase, type GoldenResult } from '../run/golden/wrap.js';
import { requireTools } from './tools.js';

// Issue 27 §2: the golden corpus is what the real busybox 1.36 of Alpine 3.20.3 does. Each
// case runs under chroot in its own copy of the minirootfs; the results must equal
// test/run/golden/busybox-1.36.json, which `npm test` replays natively. To record anew:
// OCIMAKE_GOLDEN_UPDATE=1 npm run test:interop -- golden-busybox

const JSON_PATH = new URL('../run/golden/busybox-1.36.json', import.meta.url);

function listFiles(root: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, rel)).sort()) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(root, r));
    if (st.isSymbolicLink()) out[r] = describeEntry('symlink', 0o777, readlinkSync(join(root, r)));
    else if (st.isDirectory()) { out[r] = describeEntry('directory', st.mode, ''); Object.assign(out, listFiles(root, r)); } else out[r] = describeEntry('file', st.mode, readFileSync(join(root, r), 'utf8'));
  }
  return out;
}

describe('the golden corpus against the real busybox', () => {
  const work = mkdtempSync(join(tmpdir(), 'ocimake-golden-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('busybox-1.36.json is what busybox does', () => {
    requireTools('chroot', 'tar');
    const template = join(work, 'template');
    mkdirSync(template);
    expect(spawnSync('tar', ['-xzf', MINIROOTFS.amd64, '-C', template]).status).toBe(0);
    const results: Record<string, GoldenResult> = {};
    for (const c of GOLDEN_CASES) {
      const root = join(work, 'case');
      rmSync(root, { recursive: true, force: true });
      cpSync(template, root, { recursive: true, verbatimSymlinks: true });
      writeFileSync(join(root, 'golden.sh'), wrapCase(c));
      const r = spawnSync('chroot', [root, '/bin/sh', '/golden.sh'], { encoding: 'utf8', env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' } });
      expect(r.status, `${c.name}: ${r.stderr}`).toBe(0);
      results[c.name] = {
        stdout: readFileSync(join(root, 'o'), 'utf8'),
        status: Number(readFileSync(join(root, 'status'), 'utf8')),
        files: existsSync(join(root, 'g')) ? listFiles(join(root, 'g')) : {},
      };
    }
    if (process.env.OCIMAKE_GOLDEN_UPDATE === '1') writeFileSync(JSON_PATH, `${JSON.stringify(results, null, 1)}\n`);
    expect(results).toEqual(JSON.parse(readFileSync(JSON_PATH, 'utf8')));
  }, 120_000);
});
