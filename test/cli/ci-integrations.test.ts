import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { actionArgs } from '../../src/cli/github-action.js';
import { main } from '../../src/cli/main.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 28: the GitHub Action (action.yml) and the GitLab CI template, run here as the runners
// run them: the action's step with the variables GitHub sets (INPUT_*, GITHUB_OUTPUT,
// RUNNER_TEMP), the template's script lines in bash with GitLab's CI_REGISTRY* variables.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** GITHUB_OUTPUT's name=value and name<<DELIM ... DELIM records. */
function outputs(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([\w-]+)<<(.+)$/.exec(lines[i]!);
    if (heredoc) { const end = lines.indexOf(heredoc[2]!, i + 1); out[heredoc[1]!] = lines.slice(i + 1, end).join('\n'); i = end; continue; }
    const kv = /^([\w-]+)=(.*)$/.exec(lines[i]!);
    if (kv) out[kv[1]!] = kv[2]!;
  }
  return out;
}

describe('CI integrations', () => {
  let reg: RunningRegistry;
  beforeAll(async () => { reg = await startRegistry({ auth: { users: { 'gitlab-ci-token': 'job-token' } } }); });
  afterAll(async () => { vi.unstubAllEnvs(); await reg?.close(); });

  it('action.yml passes every input to the step, and the step reads each one', () => {
    const yml = readFileSync(join(ROOT, 'action.yml'), 'utf8');
    const inputs = [...yml.split('\ninputs:\n')[1]!.split('\noutputs:')[0]!.matchAll(/^ {2}([a-z-]+):$/gm)].map((m) => m[1]!);
    const envs = [...yml.matchAll(/^ {8}INPUT_([A-Z_]+): \$\{\{ inputs\.([a-z-]+) \}\}$/gm)].map((m) => [m[1]!, m[2]!] as const);
    expect(inputs.length).toBeGreaterThan(20);
    expect(envs.map(([, n]) => n).sort()).toEqual(inputs.filter((n) => n !== 'version').sort());
    for (const [env, name] of envs) expect(env).toBe(name.replace(/-/g, '_').toUpperCase());
    const source = readFileSync(join(ROOT, 'src/cli/github-action.ts'), 'utf8');
    for (const n of inputs.filter((x) => x !== 'version')) expect(source, n).toContain(`'${n}'`);
  });

  it('maps build-push-action inputs to flags; a secret given by value goes to a private file', () => {
    const dir = tempDir();
    const env = { INPUT_CONTEXT: 'app', INPUT_TAGS: 'r/a:1,r/a:2\nr/a:latest', INPUT_BUILD_ARGS: 'A=1,2\nB=x', INPUT_PUSH: 'true', INPUT_PLATFORMS: 'linux/amd64, linux/arm64', INPUT_SECRETS: 'TOKEN=s3cr=t', INPUT_SECRET_ENVS: 'NPM=NPM_TOKEN', INPUT_PROVENANCE: 'mode=max', INPUT_SIGN: 'true' };
    const args = actionArgs(env, { iid: join(dir, 'iid'), metadata: join(dir, 'm.json'), secretDir: dir });
    expect(args.slice(0, 2)).toEqual(['build', 'app']);
    expect(args.join(' ')).toContain('--tag r/a:1 --tag r/a:2 --tag r/a:latest --push --platform linux/amd64,linux/arm64 --build-arg A=1,2 --build-arg B=x');
    expect(args).toContain('--provenance=mode=max');
    expect(args).toContain('id=NPM,env=NPM_TOKEN');
    const src = /src=(.+)$/.exec(args.find((a) => a.startsWith('id=TOKEN'))!)![1]!;
    expect(readFileSync(src, 'utf8')).toBe('s3cr=t');
    expect(statSync(src).mode & 0o777).toBe(0o600);
    expect(() => actionArgs({ INPUT_PUSH: 'yes' }, { iid: 'i', metadata: 'm', secretDir: dir })).toThrow(/input push: "yes" is not true or false/);
  });

  it('the action\'s step builds, pushes and writes imageid, digest and metadata to GITHUB_OUTPUT', async () => {
    const work = tempDir();
    const ctx = writeTree(join(work, 'app'), { Dockerfile: 'FROM scratch\nARG GREETING\nLABEL greeting=$GREETING\nCOPY hello /hello\n', hello: 'hi' });
    const out = join(work, 'github_output');
    writeFileSync(out, '');
    for (const [k, v] of Object.entries({
      GITHUB_OUTPUT: out, RUNNER_TEMP: work, INPUT_CONTEXT: ctx, INPUT_TAGS: `${reg.host}/acme/app:1`, INPUT_PUSH: 'true', INPUT_BUILD_ARGS: 'GREETING=hello', INPUT_NO_CACHE: 'false',
      OCIMAKE_REGISTRY_AUTH: JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('gitlab-ci-token:job-token').toString('base64') } } }), OCIMAKE_CACHE_DIR: join(work, 'cache'),
    })) vi.stubEnv(k, v);
    const r = await captured(() => main(['github-action']));
    expect(r.value, r.stderr).toBe(0);
    const o = outputs(out);
    const meta = JSON.parse(o.metadata!) as Record<string, unknown>;
    expect(o.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(meta['containerimage.digest']).toBe(o.digest);
    expect(o.imageid).toBe(meta['containerimage.config.digest']);
    const head = await fetch(`${reg.url}/v2/acme/app/manifests/1`, { method: 'HEAD', headers: { authorization: `Basic ${Buffer.from('gitlab-ci-token:job-token').toString('base64')}`, accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(head.headers.get('docker-content-digest')).toBe(o.digest);
    vi.unstubAllEnvs();
  });

  it('the GitLab template\'s script logs in with the job token, pushes, and leaves the digest in ocimake.env', async () => {
    const yml = readFileSync(join(ROOT, 'gitlab/ocimake.gitlab-ci.yml'), 'utf8');
    const script = yml.split('\n  script:\n')[1]!.split('\n  artifacts:')[0]!.split('\n').filter((l) => l.startsWith('    - ')).map((l) => l.slice(6));
    expect(script.length).toBeGreaterThan(3);
    const work = tempDir();
    const ctx = writeTree(join(work, 'project'), { Dockerfile: 'FROM scratch\nCOPY app /app\n', app: 'app' });
    const env = {
      PATH: process.env.PATH!, HOME: work, OCIMAKE_CACHE_DIR: join(work, 'cache'), OCIMAKE_BIN: `${process.execPath} ${join(ROOT, 'bin', 'ocimake.js')}`,
      CI_REGISTRY: reg.host, CI_REGISTRY_USER: 'gitlab-ci-token', CI_REGISTRY_PASSWORD: 'job-token',
      OCIMAKE_CONTEXT: '.', OCIMAKE_TAGS: `${reg.host}/group/project:abc123 ${reg.host}/group/project:latest`, OCIMAKE_BUILD_ARGS: 'A=1',
    };
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('bash', ['-eo', 'pipefail', '-c', script.join('\n')], { cwd: ctx, env });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += String(d); });
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    const dotenv = readFileSync(join(ctx, 'ocimake.env'), 'utf8');
    expect(dotenv).toMatch(/^OCIMAKE_IMAGE_ID=sha256:[0-9a-f]{64}\nOCIMAKE_IMAGE_DIGEST=sha256:[0-9a-f]{64}\n$/);
    const digest = /OCIMAKE_IMAGE_DIGEST=(.+)/.exec(dotenv)![1];
    for (const tag of ['abc123', 'latest']) {
      const head = await fetch(`${reg.url}/v2/group/project/manifests/${tag}`, { method: 'HEAD', headers: { authorization: `Basic ${Buffer.from('gitlab-ci-token:job-token').toString('base64')}`, accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(head.headers.get('docker-content-digest')).toBe(digest);
    }
  });
});
