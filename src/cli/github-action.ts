import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { OcimakeError } from '../errors.js';

// The GitHub Action (action.yml at the repository's root) runs `ocimake github-action`: the
// inputs of docker/build-push-action that apply, read from INPUT_* variables, become the flags
// of `ocimake build`; its outputs (imageid, digest, metadata) go to $GITHUB_OUTPUT as the
// runner reads them. No Docker and no privileges: the same build as on a laptop.

type Env = NodeJS.ProcessEnv;

const input = (env: Env, name: string): string => (env[`INPUT_${name.replace(/[ -]/g, '_').toUpperCase()}`] ?? '').trim();

/** A list input, as build-push-action reads it: one item per line, or comma-separated where `commas`. */
function list(env: Env, name: string, commas: boolean): string[] {
  const v = input(env, name);
  if (v === '') return [];
  return v.split(/\r?\n/).flatMap((l) => (commas ? l.split(',') : [l])).map((x) => x.trim()).filter((x) => x !== '' && !x.startsWith('#'));
}

function bool(env: Env, name: string): boolean {
  const v = input(env, name).toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new OcimakeError('FLAG_INVALID', `input ${name}: "${v}" is not true or false`, { hint: `write ${name}: true (or false)` });
}

/** The arguments of `ocimake build` for the action's inputs; secrets given by value are written to files in `secretDir`. */
export function actionArgs(env: Env, files: { iid: string; metadata: string; secretDir: string }): string[] {
  const args = ['build', input(env, 'context') || '.'];
  const flag = (f: string, v: string) => { if (v !== '') args.push(f, v); };
  flag('--file', input(env, 'file'));
  for (const t of list(env, 'tags', true)) args.push('--tag', t);
  if (bool(env, 'push')) args.push('--push');
  if (bool(env, 'load')) args.push('--load');
  flag('--platform', list(env, 'platforms', true).join(','));
  for (const a of list(env, 'build-args', false)) args.push('--build-arg', a);
  for (const l of list(env, 'labels', false)) args.push('--label', l);
  for (const a of list(env, 'annotations', false)) args.push('--annotation', a);
  flag('--target', input(env, 'target'));
  for (const c of list(env, 'build-contexts', false)) args.push('--build-context', c);
  for (const c of list(env, 'cache-from', false)) args.push('--cache-from', c);
  for (const c of list(env, 'cache-to', false)) args.push('--cache-to', c);
  for (const o of list(env, 'outputs', false)) args.push('--output', o);
  if (bool(env, 'no-cache')) args.push('--no-cache');
  for (const s of list(env, 'no-cache-filters', true)) args.push('--no-cache-filter', s);
  for (const h of list(env, 'add-hosts', true)) args.push('--add-host', h);
  flag('--network', input(env, 'network'));
  flag('--isolation', input(env, 'isolation'));
  if (bool(env, 'sign')) args.push('--sign');
  const provenance = input(env, 'provenance');
  if (provenance !== '' && provenance !== 'false') args.push(provenance === 'true' ? '--provenance' : `--provenance=${provenance}`);
  if (bool(env, 'sbom')) args.push('--sbom');
  // build-push-action's three ways to give a secret: its value, a file, an environment variable.
  let n = 0;
  for (const s of list(env, 'secrets', false)) {
    const i = s.indexOf('=');
    if (i <= 0) throw new OcimakeError('FLAG_INVALID', 'input secrets: each line is ID=VALUE', { hint: 'secrets: |\n  GIT_AUTH_TOKEN=${{ secrets.TOKEN }}' });
    const file = join(files.secretDir, `secret-${n++}`);
    writeFileSync(file, s.slice(i + 1), { mode: 0o600 });
    args.push('--secret', `id=${s.slice(0, i)},src=${file}`);
  }
  for (const s of list(env, 'secret-files', false)) { const i = s.indexOf('='); if (i > 0) args.push('--secret', `id=${s.slice(0, i)},src=${s.slice(i + 1)}`); }
  for (const s of list(env, 'secret-envs', false)) { const i = s.indexOf('='); if (i > 0) args.push('--secret', `id=${s.slice(0, i)},env=${s.slice(i + 1)}`); }
  args.push('--iidfile', files.iid, '--metadata-file', files.metadata, '--progress', 'plain');
  return args;
}

/** Appends name=value to $GITHUB_OUTPUT, a multi-line value between a random delimiter, as the runner reads it. */
function setOutput(file: string, name: string, value: string): void {
  if (!value.includes('\n')) { appendFileSync(file, `${name}=${value}\n`); return; }
  const delimiter = `ghadelimiter_${randomBytes(8).toString('hex')}`;
  appendFileSync(file, `${name}<<${delimiter}\n${value}\n${delimiter}\n`);
}

/** Registers `ocimake github-action` (run by action.yml; the inputs come as INPUT_* variables). */
export function registerGithubAction(program: Command, run: (argv: string[]) => Promise<number>): void {
  program
    .command('github-action', { hidden: true })
    .description('run as the GitHub Action (action.yml): INPUT_* variables in, $GITHUB_OUTPUT out')
    .action(async () => {
      const work = mkdtempSync(join(process.env.RUNNER_TEMP || tmpdir(), 'ocimake-action-'));
      try {
        const files = { iid: join(work, 'iid'), metadata: join(work, 'metadata.json'), secretDir: work };
        const status = await run(actionArgs(process.env, files));
        if (status !== 0) { process.exitCode = status; return; }
        const out = process.env.GITHUB_OUTPUT;
        if (!out) { process.stderr.write('warning: GITHUB_OUTPUT is not set: the outputs imageid, digest and metadata are not written\n'); return; }
        const metadata = readFileSync(files.metadata, 'utf8').trim();
        setOutput(out, 'imageid', readFileSync(files.iid, 'utf8').trim());
        setOutput(out, 'digest', (JSON.parse(metadata) as Record<string, string>)['containerimage.digest'] ?? '');
        setOutput(out, 'metadata', metadata);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
}
