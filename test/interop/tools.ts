import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const PACKAGES: Record<string, string> = { 'docker-registry': 'docker-registry', skopeo: 'skopeo', umoci: 'umoci', go: 'golang-go', chroot: 'coreutils', buildah: 'buildah', etcd: 'etcd-server', openssl: 'openssl' };

/**
 * Fails (never skips) when a tool the interop suite needs is missing, saying how to install it.
 */
export function requireTools(...names: string[]): void {
  const missing = names.filter((n) => spawnSync('sh', ['-c', `command -v ${n}`]).status !== 0);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => PACKAGES[m] ?? m))].join(' ');
    throw new Error(`interop tools missing: ${missing.join(', ')}. Install them with: apt-get update && apt-get install -y ${pkgs} (or run .ci/run)`);
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls a URL until it answers (any HTTP status) or the time runs out. */
export async function waitForHttp(url: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      await fetch(url);
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer in ${ms} ms: ${String(last)}`);
}

export interface Distribution { host: string; url: string; stop(): Promise<void> }

/**
 * A work directory and a distribution registry in it, for one describe block: started before
 * its tests (after checking `tools`), stopped and removed after them. Read `.work` and `.reg` in tests.
 */
export function useDistribution(prefix: string, ...tools: string[]): { work: string; reg: Distribution } {
  const ctx = { work: '', reg: undefined as unknown as Distribution };
  beforeAll(async () => {
    requireTools('docker-registry', ...tools);
    ctx.work = mkdtempSync(join(tmpdir(), prefix));
    ctx.reg = await startDistribution(join(ctx.work, 'registry'));
  }, 60_000);
  afterAll(async () => {
    await ctx.reg?.stop();
    if (ctx.work) rmSync(ctx.work, { recursive: true, force: true });
  });
  return ctx;
}

/** Starts the real distribution registry (`docker-registry serve CONFIG`) on loopback. */
export async function startDistribution(dir: string, extraYaml = ''): Promise<Distribution> {
  requireTools('docker-registry');
  const port = await freePort();
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = join(dir, 'config.yml');
  writeFileSync(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${extraYaml}`);
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/v2/`);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`docker-registry did not start: ${String(err)}\n${stderr}`, { cause: err });
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }),
  };
}

/** Runs the real `bin/ocimake.js` and returns its exit code and output. */
export function runOcimake(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'ocimake.js'), ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command and returns stdout; throws with its stderr when it fails. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

/** As run, without blocking the test worker (a long build in a sync call starves vitest's RPC). */
export function runAsync(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${stderr}`))));
  });
}

export interface ServedRegistry { host: string; url: string; child: ChildProcess; stop(): Promise<void> }

/** Starts `ocimake registry serve` (the real bin) on a free loopback port; resolves with its address. */
export function startOcimakeRegistry(args: string[] = []): Promise<ServedRegistry> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ocimake.js'), 'registry', 'serve', '--addr', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`ocimake registry serve did not start: ${out}`)), 15_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (https?:\/\/(\S+))/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!, host: m[2]!, child,
          stop: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once('exit', () => r()); child.kill('SIGTERM'); }),
        });
      }
    });
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`ocimake registry serve exited with ${code}: ${out}`)); });
  });
}

/** Like runOcimake, but without blocking this process (needed when the test itself serves HTTP). */
export function runOcimakeAsync(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ocimake.js'), ...args], { env: { ...process.env, ...opts.env }, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** One path of an unpacked rootfs, as the buildah comparisons see it. */
export interface Node { type: string; mode: number; uid: number; gid: number; content?: string; link?: string }

/** Every path under `root` with its type, mode, owner, content digest or link target. */
export function walk(root: string): Map<string, Node> {
  const out = new Map<string, Node>();
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      const node: Node = { type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isFile()) node.content = createHash('sha256').update(readFileSync(join(root, r))).digest('hex');
      if (st.isSymbolicLink()) { node.link = readlinkSync(join(root, r)); delete (node as Partial<Node>).mode; }
      out.set(r, node);
      if (st.isDirectory()) visit(r);
    }
  };
  visit('');
  return out;
}

/** The paths where two rootfs walks differ, each with both sides. */
export function rootfsDiff(a: Map<string, Node>, b: Map<string, Node>): string[] {
  const diff: string[] = [];
  for (const p of new Set([...a.keys(), ...b.keys()])) {
    const x = JSON.stringify(a.get(p));
    const y = JSON.stringify(b.get(p));
    if (x !== y) diff.push(`${p}: ocimake ${x ?? 'absent'} / buildah ${y ?? 'absent'}`);
  }
  return diff.sort();
}

/**
 * Serves `dir` over HTTP on loopback from a child process (the builds run synchronously, so
 * a server in this process could not answer); resolves to its base URL.
 */
export async function serveDir(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const script = `const h=require('http'),f=require('fs'),p=require('path');const s=h.createServer((q,r)=>{f.readFile(p.join(${JSON.stringify(dir)},decodeURIComponent(new URL(q.url,'http://x').pathname).replace(/\\.\\./g,'')),(e,b)=>{if(e){r.writeHead(404).end();return}r.writeHead(200,{'content-length':b.length}).end(b)})});s.listen(0,'127.0.0.1',()=>console.log(s.address().port))`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the file server exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}
