// `npm run bench`: ocimake against its peers, side by side on this machine, and BENCHMARKS.md.
// Not a test: nothing here asserts a time. Each workload runs one warm-up, then BENCH_RUNS
// (default 5) counted runs alternating ocimake and the peer (A B A B ...), pushing to the real
// distribution registry (Debian's docker-registry) on loopback. Wall time and peak RSS come
// from GNU time. Our bin is run directly with node (npx would add ~0.4 s of npm start-up).
// A peer or tool that is missing is reported in the table, never skipped in silence.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';

const root = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const W5_MB = Number(process.env.BENCH_W5_MB ?? 1024);
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
const work = mkdtempSync(join(tmpdir(), 'ocimake-bench-'));
// BENCH_NODE: the node binary ocimake runs on (default: this one).
const NODE = process.env.BENCH_NODE || process.execPath;
const OCIMAKE = [NODE, join(root, 'bin', 'ocimake.js')];
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const log = (m) => process.stderr.write(`${m}\n`);
// rm -rf: Node's recursive rmSync overflows its stack on S3's 1,900-level tree.
const rmTree = (p) => spawnSync('rm', ['-rf', p]);

/** Runs a command under GNU time; returns seconds and peak RSS in MB. Throws on failure. */
function measure(cmd, args, env = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', 'BENCH %e %M', cmd, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const m = /BENCH ([\d.]+) (\d+)\s*$/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-2000)}`);
  return { s: Number(m[1]), mb: Number(m[2]) / 1024 };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

function freePort() {
  return new Promise((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
}

async function startRegistry() {
  const dir = join(work, 'registry');
  mkdirSync(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  if (has('docker-registry')) {
    writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
    const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) { try { await fetch(`http://127.0.0.1:${port}/v2/`); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }
    return { host: `127.0.0.1:${port}`, kind: 'distribution registry (docker-registry)', stop: () => child.kill() };
  }
  const child = spawn(OCIMAKE[0], [OCIMAKE[1], 'registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', join(dir, 'data')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) { try { await fetch(`http://127.0.0.1:${port}/v2/`); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }
  return { host: `127.0.0.1:${port}`, kind: 'ocimake registry serve (docker-registry is not installed)', stop: () => child.kill() };
}

function ocimake(args, env = {}) { return measure(OCIMAKE[0], [OCIMAKE[1], ...args, '--progress=quiet'], env); }
function setup(args) { const r = spawnSync(OCIMAKE[0], [OCIMAKE[1], ...args, '--progress=quiet'], { encoding: 'utf8' }); if (r.status !== 0) throw new Error(`setup ${args.join(' ')}: ${r.stderr}`); }

const buildahRoot = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
function buildah(ctx, ref, extra = []) {
  // bud then push, as ours builds and pushes; --layers keeps its step cache between runs.
  return measure('sh', ['-c', `buildah ${buildahRoot.join(' ')} bud --isolation chroot --layers --tls-verify=false -q ${extra.join(' ')} -t ${ref} ${ctx} >/dev/null && buildah ${buildahRoot.join(' ')} push --tls-verify=false -q ${ref} docker://${ref} >/dev/null`]);
}

/** Semi-compressible bytes, like a binary: code-like runs with random islands. */
function binaryLike(size) {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size;) {
    if ((i >> 12) % 3 === 0) { const n = Math.min(4096, size - i); randomBytes(n).copy(out, i); i += n; } else { const t = Buffer.from(`\x48\x89\xe5 mov rax, ${i % 1013}; call f${i % 97}\n`); t.copy(out, i, 0, Math.min(t.length, size - i)); i += t.length; }
  }
  return out;
}

const rows = [];
function row(name, what, a, b, note = '') {
  rows.push({ name, what, a, b, note });
  const f = (x) => (x ? `${x.s.toFixed(2)} s, ${x.mb.toFixed(0)} MB` : 'not measured');
  log(`${name}: ocimake ${f(a)} | peer ${f(b)} ${note}`);
}

/** Warm-up, then `runs` (RUNS) alternating runs of A and B; `before` runs before each (new stamp). */
function compare(name, what, runA, runB, before = () => {}, runs = RUNS) {
  if (only && !only.has(name)) return;
  before(); runA(); if (runB) { before(); runB(); }
  const as = [];
  const bs = [];
  for (let i = 0; i < runs; i++) {
    before(); as.push(runA());
    if (runB) { before(); bs.push(runB()); }
  }
  const pick = (xs) => (xs.length ? { s: median(xs.map((x) => x.s)), mb: Math.max(...xs.map((x) => x.mb)) } : undefined);
  row(name, what, pick(as), pick(bs));
}

const reg = await startRegistry();
const R = reg.host;
const peer = has('buildah');
try {
  // Shared inputs, made with ocimake itself (not timed): an Alpine base from the fixture
  // rootfs, and an etcd image holding the 21 MB binary (Debian's etcd, or a stand-in).
  const base = join(work, 'base');
  mkdirSync(base);
  copyFileSync(join(root, 'fixtures', 'rootfs', 'alpine-minirootfs-3.20.3-x86_64.tar.gz'), join(base, 'rootfs.tar.gz'));
  writeFileSync(join(base, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar.gz /\nCMD ["/bin/sh"]\n');
  setup(['build', base, '-t', `${R}/bench/alpine:3.20`, '--push', '--cache-dir', join(work, 'setup-cache')]);
  const etcdCtx = join(work, 'etcd');
  mkdirSync(etcdCtx);
  if (has('etcd')) copyFileSync(spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).stdout.trim(), join(etcdCtx, 'etcd'));
  else writeFileSync(join(etcdCtx, 'etcd'), binaryLike(21 << 20));
  writeFileSync(join(etcdCtx, 'Dockerfile'), 'FROM scratch\nCOPY etcd /usr/local/bin/etcd\n');
  setup(['build', etcdCtx, '-t', `${R}/bench/etcd:v3`, '--push', '--cache-dir', join(work, 'setup-cache')]);

  let stampN = 0;
  const stamp = (ctx) => () => writeFileSync(join(ctx, 'stamp'), `build ${++stampN}\n`);
  const cache = join(work, 'cache');

  // W1: FROM scratch + a 4.5 MB static binary + a changed stamp.
  const w1 = join(work, 'w1');
  mkdirSync(w1);
  writeFileSync(join(w1, 'app'), binaryLike(4.5 * 2 ** 20));
  writeFileSync(join(w1, 'Dockerfile'), 'FROM scratch\nCOPY app /app\nCOPY stamp /stamp\nENTRYPOINT ["/app"]\n');
  compare('W1', 'FROM scratch + 4.5 MB binary + changed stamp, pushed',
    () => ocimake(['build', w1, '-t', `${R}/w1/ours:1`, '--push', '--cache-dir', cache]),
    peer && (() => buildah(w1, `${R}/w1/buildah:1`)), stamp(w1));

  // W2: base + COPY --from=<etcd image> of its 21 MB binary + a changed stamp.
  const w2 = join(work, 'w2');
  mkdirSync(w2);
  writeFileSync(join(w2, 'Dockerfile'), `FROM ${R}/bench/alpine:3.20\nCOPY --from=${R}/bench/etcd:v3 /usr/local/bin/etcd /usr/local/bin/\nCOPY stamp /stamp\n`);
  compare('W2', 'Alpine base + COPY --from=<etcd image> 21 MB binary + changed stamp, pushed',
    () => ocimake(['build', w2, '-t', `${R}/w2/ours:1`, '--push', '--cache-dir', cache]),
    peer && (() => buildah(w2, `${R}/w2/buildah:1`)), stamp(w2));

  // W3: base + a ~2,000-file, ~20 MB tree + a changed stamp; W4: the same, nothing changed.
  const w3 = join(work, 'w3');
  for (let i = 0; i < 2000; i++) {
    const dir = join(w3, 'node_modules', `pkg${i % 150}`, 'lib');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `m${i}.js`), i % 10 === 0 ? binaryLike(60_000) : Buffer.from(`'use strict';\nmodule.exports = function m${i}(x) { return x * ${i}; };\n`.repeat(140)));
  }
  writeFileSync(join(w3, 'Dockerfile'), `FROM ${R}/bench/alpine:3.20\nCOPY node_modules /app/node_modules\nCOPY stamp /stamp\n`);
  stamp(w3)();
  compare('W3', 'Alpine base + 2,000-file ~20 MB tree + changed stamp, pushed',
    () => ocimake(['build', w3, '-t', `${R}/w3/ours:1`, '--push', '--cache-dir', cache, '--cache-to', `type=registry,ref=${R}/w3/ours:cache`]),
    peer && (() => buildah(w3, `${R}/w3/buildah:1`)), stamp(w3));
  compare('W4', 'W3 again with nothing changed (warm cache)',
    () => ocimake(['build', w3, '-t', `${R}/w3/ours:1`, '--push', '--cache-dir', cache]),
    peer && (() => buildah(w3, `${R}/w3/buildah:1`)));

  // W7: W3 on a fresh runner: an empty cache dir and --cache-from the registry.
  if (!only || only.has('W7')) {
    const cold = () => { rmSync(join(work, 'cold'), { recursive: true, force: true }); return ocimake(['build', w3, '-t', `${R}/w3/ours:1`, '--push', '--cache-dir', join(work, 'cold')]); };
    const fromCache = () => { rmSync(join(work, 'cold'), { recursive: true, force: true }); return ocimake(['build', w3, '-t', `${R}/w3/ours:1`, '--push', '--cache-dir', join(work, 'cold'), '--cache-from', `type=registry,ref=${R}/w3/ours:cache`]); };
    compare('W7', 'W3 on a fresh runner: empty cache dir; peer = ocimake cold (no --cache-from)', fromCache, cold);
  }

  // W8: a builder stage that executes go build (the seed's PONG server) and an Alpine final
  // stage, cold (empty caches, the 450 MB toolchain image pulled) and warm (nothing changed).
  // The toolchain image is made from this machine's Debian Go, as the interop suite makes it.
  if ((!only || only.has('W8') || only.has('W8w')) && has('go')) {
    const goroot = spawnSync('sh', ['-c', 'readlink -f "$(dirname "$(readlink -f "$(command -v go)")")/.."'], { encoding: 'utf8' }).stdout.trim();
    const tc = join(work, 'w8-golang');
    const rootfs = join(tc, 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    const copy = (p) => spawnSync('sh', ['-c', `mkdir -p "${rootfs}$(dirname "${p}")" && cp -a "${p}" "${rootfs}${p}"`]);
    copy(goroot);
    if (existsSync(goroot.replace('/usr/lib/', '/usr/share/'))) copy(goroot.replace('/usr/lib/', '/usr/share/'));
    for (const bin of [join(goroot, 'bin', 'go'), '/bin/dash']) {
      copy(bin);
      for (const lib of spawnSync('ldd', [bin], { encoding: 'utf8' }).stdout.matchAll(/(\/\S+) \(0x/g)) spawnSync('sh', ['-c', `mkdir -p "${rootfs}$(dirname "${lib[1]}")" && cp -L "${lib[1]}" "${rootfs}${lib[1]}"`]);
    }
    spawnSync('sh', ['-c', `cp -L /bin/dash "${rootfs}/bin/sh" && mkdir -p "${rootfs}/tmp" "${rootfs}/root" && chmod 1777 "${rootfs}/tmp"`]);
    writeFileSync(join(tc, 'Dockerfile'), `FROM scratch\nCOPY rootfs/ /\nENV PATH=${goroot}/bin:/usr/bin:/bin GOPATH=/go\n`);
    setup(['build', tc, '-t', `${R}/bench/golang:1`, '--push', '--cache-dir', join(work, 'setup-cache')]);
    rmTree(tc);
    const w8 = join(work, 'w8');
    mkdirSync(w8);
    writeFileSync(join(w8, 'main.go'), 'package main\n\nimport "net/http"\n\nfunc main() {\n\thttp.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("PONG")) })\n\thttp.ListenAndServe(":8080", nil)\n}\n');
    writeFileSync(join(w8, 'go.mod'), 'module example.com/pong\n\ngo 1.19\n');
    writeFileSync(join(w8, 'Dockerfile'), `FROM ${R}/bench/golang:1 AS builder\nWORKDIR /src\nCOPY go.mod main.go ./\nRUN CGO_ENABLED=0 go build -ldflags '-w -s' -o /app-server .\nFROM ${R}/bench/alpine:3.20\nCOPY --from=builder /app-server /app-server\nCMD ["/app-server"]\n`);
    const ours = (fresh) => () => { if (fresh) rmTree(join(work, 'w8-cache')); return ocimake(['build', w8, '-t', `${R}/w8/ours:1`, '--push', '--cache-dir', join(work, 'w8-cache')]); };
    const theirs = (fresh) => () => { if (fresh) spawnSync('buildah', [...buildahRoot, 'rmi', '-a', '-f'], { stdio: 'ignore' }); return buildah(w8, `${R}/w8/buildah:1`); };
    const runs = Number(process.env.BENCH_W8_RUNS ?? 3);
    compare('W8', 'builder stage executing go build (PONG server) + Alpine final stage, pushed, cold (empty caches)', ours(true), peer && theirs(true), () => {}, runs);
    compare('W8w', 'W8 again with nothing changed (warm)', ours(false), peer && theirs(false), () => {}, runs);
  }

  // W9: seed 000's Alpine stage, no step cache: `apk add -U tzdata` (both indexes fetched and
  // parsed, the package installed) and `ln -sf`, from a mirror on loopback sized like Alpine's
  // (scripts/bench-apk-mirror.ts). buildah runs the real apk-tools under chroot; ocimake runs neither.
  if (!only || only.has('W9')) {
    const { build } = await import('esbuild');
    await build({ absWorkingDir: root, entryPoints: ['scripts/bench-apk-mirror.ts'], outfile: 'dist/bench/apk-mirror.mjs', bundle: true, format: 'esm', platform: 'node', packages: 'external', logLevel: 'error' });
    const mirror = spawn(process.execPath, [join(root, 'dist', 'bench', 'apk-mirror.mjs'), join(work, 'w9-mirror')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const info = JSON.parse(await new Promise((resolve, reject) => { let got = ''; mirror.stdout.on('data', (c) => { got += c; if (got.includes('\n')) resolve(got); }); mirror.on('exit', (c) => reject(new Error(`the apk mirror exited (${c})`))); }));
      const w9 = join(work, 'w9');
      mkdirSync(w9);
      copyFileSync(info.keyFile, join(w9, info.keyName));
      writeFileSync(join(w9, 'repositories'), `${info.url}/main\n${info.url}/community\n`);
      writeFileSync(join(w9, 'Dockerfile'), `FROM ${R}/bench/alpine:3.20\nCOPY ${info.keyName} /etc/apk/keys/\nCOPY repositories /etc/apk/repositories\nRUN apk add -U tzdata\nRUN ln -sf /usr/share/zoneinfo/Asia/Shanghai  /etc/localtime\n`);
      compare('W9', "seed 000's Alpine stage: apk add -U tzdata (5,600 + 20,000-entry indexes) + ln -sf, no step cache, pushed",
        () => ocimake(['build', w9, '-t', `${R}/w9/ours:1`, '--push', '--no-cache', '--cache-dir', cache]),
        peer && (() => buildah(w9, `${R}/w9/buildah:1`, ['--no-cache'])));
    } finally { mirror.kill(); }
  }

  // W5: COPY --from one small file out of a 10-layer image of W5_MB whose file is in the top layer, cold.
  if (!only || only.has('W5')) {
    const big = join(work, 'w5-image');
    mkdirSync(big);
    const per = Math.floor((W5_MB * 2 ** 20) / 10);
    const lines = ['FROM scratch'];
    for (let i = 0; i < 10; i++) { writeFileSync(join(big, `layer${i}.bin`), randomBytes(per)); lines.push(`COPY layer${i}.bin /data/layer${i}.bin`); }
    writeFileSync(join(big, 'wanted.txt'), 'the one file\n');
    lines[lines.length - 1] = 'COPY layer9.bin wanted.txt /data/';
    writeFileSync(join(big, 'Dockerfile'), `${lines.join('\n')}\n`);
    setup(['build', big, '-t', `${R}/bench/big:1`, '--push', '--cache-dir', join(work, 'setup-cache')]);
    rmSync(big, { recursive: true, force: true });
    const w5 = join(work, 'w5');
    mkdirSync(w5);
    writeFileSync(join(w5, 'Dockerfile'), `FROM scratch\nCOPY --from=${R}/bench/big:1 /data/wanted.txt /wanted.txt\n`);
    compare('W5', `COPY --from one small file of a ${W5_MB} MB 10-layer image (top layer), cold`,
      () => { rmSync(join(work, 'w5-cache'), { recursive: true, force: true }); return ocimake(['build', w5, '-t', `${R}/w5/ours:1`, '--push', '--cache-dir', join(work, 'w5-cache')]); },
      peer && (() => { spawnSync('buildah', [...buildahRoot, 'rmi', '-a', '-f'], { stdio: 'ignore' }); return buildah(w5, `${R}/w5/buildah:1`); }));
  }

  // W6: one 200 MB layer, cold: compression throughput, against pigz -6 on the same tar.
  if (!only || only.has('W6')) {
    const w6 = join(work, 'w6');
    mkdirSync(w6);
    writeFileSync(join(w6, 'big.bin'), binaryLike(200 * 2 ** 20));
    writeFileSync(join(w6, 'Dockerfile'), 'FROM scratch\nCOPY big.bin /big.bin\n');
    const tarFile = join(work, 'w6.tar');
    setup(['build', w6, '-o', `type=tar,dest=${tarFile}`, '--cache-dir', join(work, 'w6-setup')]);
    compare('W6', 'one 200 MB layer, cold (peer = pigz -6 on the same tar)',
      () => { rmSync(join(work, 'w6-cache'), { recursive: true, force: true }); return ocimake(['build', w6, '-o', `type=oci,dest=${join(work, 'w6-out')}`, '--no-cache', '--cache-dir', join(work, 'w6-cache')]); },
      has('pigz') && (() => measure('sh', ['-c', `pigz -6 -c ${tarFile} > ${join(work, 'w6.tar.gz')}`])));
  }

  // Issue 11's scale rows. S1/S2: a layer of 100,000 empty files (100 directories of 1,000),
  // as node_modules-heavy images have; S3: one file 2,000 directories deep against a flat
  // tree of the same size, through -o type=local.
  if (!only || only.has('S1') || only.has('S2')) {
    const tree = join(work, 's-tree');
    for (let d = 0; d < 100; d++) { mkdirSync(join(tree, 'app', `d${d}`), { recursive: true }); for (let i = 0; i < 1000; i++) writeFileSync(join(tree, 'app', `d${d}`, `f${i}`), ''); }
    writeFileSync(join(tree, 'Dockerfile'), 'FROM scratch\nCOPY app /app/\n');
    setup(['build', tree, '-t', `${R}/bench/k100:1`, '--push', '--cache-dir', join(work, 's-cache')]);
    const tarball = join(work, 's-tree.tar.gz');
    spawnSync('tar', ['-czf', tarball, '-C', tree, 'app']);
    rmSync(tree, { recursive: true, force: true });
    const out = join(work, 's-out');
    const clean = () => rmSync(out, { recursive: true, force: true });
    compare('S1', 'extract of a 100,000-entry layer (peer = GNU tar -xzf of the same tree)',
      () => { clean(); return measure(OCIMAKE[0], [OCIMAKE[1], 'extract', `${R}/bench/k100:1`, '/', '-o', out, '--cache-dir', join(work, 's-cache')]); },
      () => { clean(); mkdirSync(out); return measure('tar', ['-xzf', tarball, '-C', out]); });
    const s2 = join(work, 's2');
    mkdirSync(s2);
    writeFileSync(join(s2, 'Dockerfile'), `FROM scratch\nCOPY --from=${R}/bench/k100:1 /app /x/\n`);
    compare('S2', 'COPY --from=<image> of a 100,000-entry layer, pushed',
      () => ocimake(['build', s2, '-t', `${R}/s2/ours:1`, '--push', '--no-cache', '--cache-dir', join(work, 's-cache')]),
      peer && (() => buildah(s2, `${R}/s2/buildah:1`)));
  }
  if (!only || only.has('S3')) {
    const deep = join(work, 's3-deep');
    const flat = join(work, 's3-flat');
    // 1,900 levels leave room under PATH_MAX for the output path; the flat tree has as many directories, side by side.
    mkdirSync(join(deep, 'ctx', ...Array.from({ length: 1900 }, () => 'd')), { recursive: true });
    writeFileSync(join(deep, 'ctx', ...Array.from({ length: 1900 }, () => 'd'), 'deep.txt'), 'bottom\n');
    for (let i = 0; i < 1900; i++) mkdirSync(join(flat, 'ctx', `d${i}`), { recursive: true });
    writeFileSync(join(flat, 'ctx', 'd0', 'deep.txt'), 'bottom\n');
    for (const [name, dir] of [['deep', deep], ['flat', flat]]) {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY ctx /x/\n');
      setup(['build', dir, '-o', `type=oci,dest=${join(work, `s3-${name}-img`)}`, '--cache-dir', join(work, 's3-cache')]);
      writeFileSync(join(dir, 'Dockerfile.out'), `FROM scratch\nCOPY --from=oci:${join(work, `s3-${name}-img`)} / /\n`);
    }
    const local = (dir) => () => { rmTree(join(work, 's3-o')); return ocimake(['build', dir, '-f', join(dir, 'Dockerfile.out'), '-o', `type=local,dest=${join(work, 's3-o')}`, '--cache-dir', join(work, 's3-cache')]); };
    compare('S3', '-o type=local of an image with one file 1,900 directories deep (peer = ocimake, same count of directories side by side)', local(deep), local(flat));
  }
  // S4: a native RUN that makes 100,000 files (100 directories of 1,000 touched), and S4a the
  // same with 10,000, to show the cost is linear in the count; buildah runs busybox's own loop.
  for (const [name, dirs] of [['S4a', 10], ['S4', 100]]) {
    if (only && !only.has(name)) continue;
    const ctx = join(work, `s4-${dirs}`);
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${R}/bench/alpine:3.20\nRUN mkdir /data && cd /data && for d in $(seq ${dirs}); do mkdir d$d && cd d$d && touch $(seq 1000) && cd ..; done\n`);
    compare(name, `RUN that makes ${dirs * 1000} files (${dirs} directories of 1,000, touch), no step cache, pushed`,
      () => ocimake(['build', ctx, '-t', `${R}/s4/ours:${dirs}`, '--push', '--no-cache', '--cache-dir', cache]),
      peer && (() => buildah(ctx, `${R}/s4/buildah:${dirs}`, ['--no-cache'])));
  }
} finally {
  reg.stop();
}

const f = (x) => (x ? `${x.s.toFixed(2)}` : '—');
const m = (x) => (x ? `${x.mb.toFixed(0)}` : '—');
const peerName = { W6: 'pigz -6', W7: 'ocimake, cold', S1: 'GNU tar', S3: 'ocimake, flat tree' };
/** This run's rows, and, with BENCH_ONLY, the rows of the last full run for the workloads not run now (marked). */
function tableRows() {
  const fresh = new Map(rows.map((r) => [r.name, `| ${r.name} | ${r.what} | ${f(r.a)} | ${m(r.a)} | ${peerName[r.name] ?? (peer ? 'buildah' : 'buildah (missing)')} | ${f(r.b)} | ${m(r.b)} | ${r.a && r.b ? (r.a.s / r.b.s).toFixed(2) : '—'} |`]));
  if (only && existsSync(join(root, 'BENCHMARKS.md'))) {
    for (const line of readFileSync(join(root, 'BENCHMARKS.md'), 'utf8').split('\n')) {
      const name = /^\| ([WS]\d+[wa]?)\*? \|/.exec(line)?.[1];
      if (name && !fresh.has(name)) fresh.set(name, line.replace(/^\| ([WS]\d+[wa]?)\*? \|/, `| ${name}* |`));
    }
  }
  const order = (n) => (n[0] === 'W' ? 0 : 100) + Number.parseFloat(n.slice(1)) + (n.endsWith('w') ? 0.5 : n.endsWith('a') ? -0.5 : 0);
  return [...fresh.entries()].sort(([a], [b]) => order(a) - order(b)).map(([, l]) => l);
}

const lines = [
  '# Benchmarks',
  '',
  `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GB, ocimake on Node ${spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()} (BENCH_NODE picks the binary).`,
  `Median wall time of ${RUNS} runs after one warm-up, ocimake and the peer alternating; peak RSS is the largest of those runs (GNU time).`,
  `Pushes go to the ${reg.kind} on 127.0.0.1. ocimake is timed as \`node bin/ocimake.js\` (npx would add about 0.4 s of npm start-up).`,
  `The peer is \`buildah bud --layers --isolation chroot\` + \`buildah push\` (vfs storage) unless the row says otherwise${peer ? '' : '; buildah is not installed on this machine, so those columns are empty'}.`,
  'containerify is not measured: its input is a Node.js app folder on a base image, which cannot express these Dockerfile workloads.',
  ...(only ? ['Rows marked * are from an earlier run (this one ran only some workloads, `BENCH_ONLY`).'] : []),
  '',
  '| workload | what | ocimake s | ocimake MB | peer | peer s | peer MB | ocimake / peer |',
  '|---|---|---|---|---|---|---|---|',
  ...tableRows(),
  '',
];
writeFileSync(join(root, 'BENCHMARKS.md'), lines.join('\n'));
console.log(lines.join('\n'));
rmTree(work);
