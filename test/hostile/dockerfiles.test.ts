import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDockerfile } from '../../src/dockerfile/read.js';
import { work, workSince, workSnapshot } from '../../src/util/work.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 11: the hostile corpus, Dockerfiles. Each case is refused with a clear error that
// names the file, line or limit, or accepted; none hangs, overflows the stack or grows
// work with the square of its size (counted: characters put through expansion, config copies).

const fails = (p: Promise<unknown>) => p.then(() => { throw new Error('accepted'); }, (e: Error) => e);

let alpine: string;
beforeAll(() => { alpine = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`; });

describe('hostile Dockerfiles (issue 11 corpus)', () => {
  it('a 10 MB Dockerfile is refused before it is parsed, naming the limit and its variable', async () => {
    const err = await fails(buildFrom(`FROM scratch\n${'LABEL a=b\n'.repeat(1_000_000)}`));
    expect(err.message).toMatch(/the Dockerfile .* is 10000013 bytes: past the limit dockerfileSize \(1 MiB\)/);
    expect((err as { hint?: string }).hint).toMatch(/OCIMAKE_MAX_DOCKERFILE_SIZE=N/);
  });

  it('an endless Dockerfile on stdin stops at the limit', async () => {
    let sent = 0;
    const endless = new Readable({ read() { sent += 65536; this.push(Buffer.alloc(65536, 0x23)); } });
    const err = await fails(readDockerfile('-', { stdin: endless }));
    expect(err.message).toMatch(/the Dockerfile on stdin is more than 1048576 bytes: past the limit dockerfileSize/);
    expect(sent).toBeLessThan(3 << 20);
  });

  it('a Dockerfile that is a fifo in the context is refused, not waited on', async () => {
    const ctx = tempDir();
    execFileSync('mkfifo', [join(ctx, 'Dockerfile')]);
    const err = await fails(import('../../src/builder/build.js').then((m) => m.build({ context: ctx, cacheDir: join(ctx, '.cache') })));
    expect(err.message).toMatch(/cannot read the Dockerfile at .*: it is not a regular file/);
  });

  it('a .dockerignore that is a fifo is refused, not waited on', async () => {
    const ctx = tempDir();
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\n');
    execFileSync('mkfifo', [join(ctx, '.dockerignore')]);
    const err = await fails(import('../../src/builder/build.js').then((m) => m.build({ context: ctx, cacheDir: join(ctx, '.cache') })));
    expect(err.message).toMatch(/\.dockerignore is not a regular file/);
  });

  it('the limit can be raised: a 1.5 MB Dockerfile builds with OCIMAKE_MAX_DOCKERFILE_SIZE=2MiB', async () => {
    process.env.OCIMAKE_MAX_DOCKERFILE_SIZE = '2MiB';
    try {
      const r = await buildFrom(`FROM scratch\nLABEL big=${'x'.repeat(1_500_000)}\n`);
      expect(r.image.config.config?.Labels?.big).toHaveLength(1_500_000);
    } finally { delete process.env.OCIMAKE_MAX_DOCKERFILE_SIZE; }
    const err = await fails((async () => { process.env.OCIMAKE_MAX_DOCKERFILE_SIZE = 'lots'; try { return await buildFrom('FROM scratch\n'); } finally { delete process.env.OCIMAKE_MAX_DOCKERFILE_SIZE; } })());
    expect(err.message).toMatch(/OCIMAKE_MAX_DOCKERFILE_SIZE="lots" is not a valid size/);
  });

  it('1,000 stages: only the target and what it needs are built, with one config copy per run of metadata', async () => {
    const stages = Array.from({ length: 1000 }, (_, i) => `FROM scratch AS s${i}\nLABEL n=${i}\n`).join('');
    const before = work.configDrafts;
    const r = await buildFrom(`${stages}COPY f /f\n`, { f: 'x' });
    expect(r.image.config.config?.Labels?.n).toBe('999');
    expect(work.configDrafts - before).toBeLessThanOrEqual(4);
  });

  it('300 stages, each built on and copying from the one before: linear in the stages', async () => {
    const chain = Array.from({ length: 299 }, (_, i) => `FROM s${i} AS s${i + 1}\nCOPY --from=s${i} /f0 /f${i + 1}\n`).join('');
    const before = workSnapshot();
    const r = await buildFrom(`FROM scratch AS s0\nCOPY f /f0\n${chain}`, { f: 'x' });
    const done = workSince(before);
    expect(r.layers.at(-1)!.map((e) => e.name)).toEqual(['f299']);
    expect(done.resolveSteps).toBeLessThanOrEqual(300 * 40);
    expect(done.layerEntries).toBeLessThanOrEqual(2 * 300);
  });

  it('${…} nested 1,000 deep is expanded; 1,001 deep is refused with the line, not a stack overflow', async () => {
    const nest = (n: number) => `${'${A:-'.repeat(n)}z${'}'.repeat(n)}`;
    const before = workSnapshot();
    const r = await buildFrom(`FROM scratch\nENV X=${nest(1000)}\n`);
    expect(r.image.config.config?.Env).toContain('X=z');
    expect(workSince(before).lexedChars).toBeLessThan(20 * 6000);
    const err = await fails(buildFrom(`FROM scratch\nENV X=${nest(150_000)}\n`));
    expect(err.message).toMatch(/^Dockerfile:2: ENV: \$\{…\} nested more than 1000 levels deep/);
  });

  it('20,000 ARGs, each naming the one before, stay linear (46 s and a copy of every ARG per ARG before)', async () => {
    const args = Array.from({ length: 20_000 }, (_, i) => `ARG A${i + 1}=\${A${i}}\n`).join('');
    const before = workSnapshot();
    const r = await buildFrom(`FROM scratch\nARG A0=v\n${args}ENV Z=$A20000\n`);
    expect(r.image.config.config?.Env).toContain('Z=v');
    expect(workSince(before).lexedChars).toBeLessThan(30 * 20_000);
  });

  it('a heredoc that never ends is refused with its line', async () => {
    const err = await fails(buildFrom(`FROM scratch\nCOPY <<EOF /f\n${'line\n'.repeat(50_000)}`));
    expect(err.message).toMatch(/^Dockerfile:2: unterminated heredoc EOF/);
  });

  it('100,000 continuation lines make one instruction', async () => {
    const r = await buildFrom(`FROM scratch\nLABEL a=b \\\n${' \\\n'.repeat(100_000)}\n`);
    expect(r.image.config.config?.Labels?.a).toBe('b');
  });

  it('a CMD of 200,000 brackets is taken as the shell form, as BuildKit takes invalid JSON', async () => {
    const r = await buildFrom(`FROM scratch\nCMD ${'['.repeat(200_000)}\n`);
    expect(r.image.config.config?.Cmd?.[2]).toHaveLength(200_000);
  });

  it('RUN nested beyond what the shell parser can take is refused in words, not with a stack overflow', async () => {
    const err = await fails(buildFrom(`FROM ${alpine}\nRUN echo ${'$(echo '.repeat(5000)}x${')'.repeat(5000)}\n`));
    expect(err.message).toMatch(/^Dockerfile:2: RUN: the shell command nests too deeply to parse/);
  });

  it('RUN with a 100-deep if and command substitution nests fine', async () => {
    const ifs = `${'if true; then '.repeat(100)}mkdir -p /deep; ${'fi; '.repeat(100)}`;
    const subst = `ln -s ${'$(echo '.repeat(100)}/deep${')'.repeat(100)} /link`;
    const r = await buildFrom(`FROM ${alpine}\nRUN ${ifs}${subst}\n`);
    const names = r.layers.at(-1)!.map((e) => `${e.name}${e.linkname ? ` -> ${e.linkname}` : ''}`);
    expect(names).toEqual(expect.arrayContaining(['deep/', 'link -> /deep']));
  });
});
