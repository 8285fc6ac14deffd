import { describe, expect, it } from 'vitest';
import { buildFrom, flatten } from '../helpers/build.js';

const cfg = async (df: string, opts = {}) => (await buildFrom(df, {}, opts)).image.config;

describe('metadata instructions', () => {
  it('ENV in both forms, replacing earlier values, and expanding ${VAR}', async () => {
    const c = await cfg('FROM scratch\nENV A=1 B="two words"\nENV C ${A}-$B\nENV A=3\n');
    expect(c.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=3', 'B=two words', 'C=1-two words']);
  });

  it('ARG with defaults, --build-arg overrides, ${VAR:-default}, and ENV winning over ARG', async () => {
    const df = 'FROM scratch\nARG V=default\nARG W\nLABEL v=$V w=${W:-unset} x=${X:-dflt}\nENV V=fromenv\nLABEL after=$V\n';
    expect((await cfg(df)).config?.Labels).toEqual({ v: 'default', w: 'unset', x: 'dflt', after: 'fromenv' });
    expect((await cfg(df, { buildArgs: { V: 'cli', W: 'w' } })).config?.Labels).toMatchObject({ v: 'cli', w: 'w' });
  });

  it('does not persist ARG values into the image', async () => {
    const c = await cfg('FROM scratch\nARG SECRET=x\n');
    expect(JSON.stringify(c)).not.toContain('SECRET');
  });

  it('uses global ARGs in FROM and in stages that redeclare them', async () => {
    const c = await cfg('ARG BASE=scratch\nARG VER=1.2\nFROM ${BASE}\nARG VER\nLABEL ver=$VER\n');
    expect(c.config?.Labels).toEqual({ ver: '1.2' });
  });

  it('warns about build args nothing consumed', async () => {
    const r = await buildFrom('FROM scratch\n', {}, { buildArgs: { UNUSED: '1' } });
    expect(r.warnings.join()).toMatch(/UNUSED/);
  });

  it('LABEL, USER, STOPSIGNAL, VOLUME, EXPOSE with /udp and ranges', async () => {
    const c = await cfg('FROM scratch\nLABEL a=b "c d"="e f"\nUSER 1000:1000\nSTOPSIGNAL SIGINT\nVOLUME ["/data", "/logs"]\nVOLUME /cache\nEXPOSE 8080 53/udp 9000-9001\n');
    expect(c.config).toMatchObject({
      Labels: { a: 'b', 'c d': 'e f' },
      User: '1000:1000',
      StopSignal: 'SIGINT',
      Volumes: { '/data': {}, '/logs': {}, '/cache': {} },
      ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '9000/tcp': {}, '9001/tcp': {} },
    });
  });

  it('WORKDIR resolves relative paths and creates the directory', async () => {
    const r = await buildFrom('FROM scratch\nWORKDIR /a\nWORKDIR b\nWORKDIR /a/b\n');
    expect(r.image.config.config?.WorkingDir).toBe('/a/b');
    expect(r.layers).toHaveLength(2); // /a/b existed by the third WORKDIR
    expect(flatten(r.layers).get('a/b')).toMatchObject({ type: 'directory', mode: 0o755 });
  });

  it('WORKDIR keeps an absolute path exactly as written and cleans only joined relative ones (as BuildKit)', async () => {
    expect((await cfg('FROM scratch\nWORKDIR /root/\n')).config?.WorkingDir).toBe('/root/');
    expect((await cfg('FROM scratch\nWORKDIR /a/./b/../c\n')).config?.WorkingDir).toBe('/a/./b/../c');
    expect((await cfg('FROM scratch\nWORKDIR /root/\nWORKDIR x/./y/\n')).config?.WorkingDir).toBe('/root/x/y');
    expect((await cfg('FROM scratch\nWORKDIR app/\n')).config?.WorkingDir).toBe('/app');
    const r = await buildFrom('FROM scratch\nWORKDIR /srv/app/\n');
    expect(flatten(r.layers).get('srv/app')).toMatchObject({ type: 'directory' });
  });

  it('applies a long run of metadata instructions with one copy of the config (linear, not quadratic)', async () => {
    const { work } = await import('../../src/util/work.js');
    const lines = ['FROM scratch'];
    for (let i = 0; i < 5000; i++) lines.push(`LABEL k${i}=v${i}`);
    for (let i = 0; i < 2000; i++) lines.push(`ENV E${i}=\${E${Math.max(0, i - 1)}:-start}`);
    lines.push('ENV E0=again');
    const before = work.configDrafts;
    const c = await cfg(`${lines.join('\n')}\n`);
    expect(work.configDrafts - before).toBe(1);
    expect(Object.keys(c.config?.Labels ?? {})).toHaveLength(5000);
    const env = (c.config?.Env ?? []).filter((e) => e.startsWith('E'));
    expect(env).toHaveLength(2000);
    expect(env[0]).toBe('E0=again'); // replaced where it stood
    expect(env[1]).toBe('E1=start');
    expect(c.history).toHaveLength(7001);
  });

  it('CMD and ENTRYPOINT in exec and shell form, with SHELL', async () => {
    const c = await cfg('FROM scratch\nCMD ["run", "a b"]\nENTRYPOINT /bin/app --flag\n');
    expect(c.config?.Entrypoint).toEqual(['/bin/sh', '-c', '/bin/app --flag']);
    expect(c.config?.Cmd).toEqual(['run', 'a b']); // CMD set earlier in the same stage stays
    const s = await cfg('FROM scratch\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nCMD echo hi\n');
    expect(s.config?.Cmd).toEqual(['/bin/bash', '-o', 'pipefail', '-c', 'echo hi']);
    expect(s.config?.Shell).toEqual(['/bin/bash', '-o', 'pipefail', '-c']);
  });

  it('ENTRYPOINT resets a CMD inherited from the base', async () => {
    const c = await cfg('FROM scratch AS base\nCMD ["serve"]\nFROM base\nENTRYPOINT ["/app"]\n');
    expect(c.config?.Entrypoint).toEqual(['/app']);
    expect(c.config?.Cmd).toBeNull();
  });

  it('HEALTHCHECK with flags, CMD-SHELL, and NONE', async () => {
    const c = await cfg('FROM scratch\nHEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --retries=3 CMD ["/app", "health"]\n');
    expect(c.config?.Healthcheck).toEqual({ Test: ['CMD', '/app', 'health'], Interval: 30e9, Timeout: 90e9, StartPeriod: 5e8, Retries: 3 });
    expect((await cfg('FROM scratch\nHEALTHCHECK CMD curl -f http://localhost/\n')).config?.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'curl -f http://localhost/'] });
    expect((await cfg('FROM scratch\nHEALTHCHECK NONE\n')).config?.Healthcheck).toEqual({ Test: ['NONE'] });
    await expect(cfg('FROM scratch\nHEALTHCHECK --interval=soon CMD x\n')).rejects.toThrow(/Dockerfile:2: .*invalid duration "soon"/);
  });

  it('records a history entry for each instruction, and layers match diff_ids', async () => {
    const r = await buildFrom('FROM scratch\nCOPY f /f\nENV A=1\nEXPOSE 80\nENTRYPOINT ["/f"]\n', { f: 'x' });
    const h = r.image.config.history ?? [];
    expect(h.map((e) => e.created_by)).toEqual(['COPY f /f', 'ENV A=1', 'EXPOSE 80/tcp', 'ENTRYPOINT ["/f"]']);
    expect(h.map((e) => e.empty_layer ?? false)).toEqual([false, true, true, true]);
    expect(r.image.config.rootfs.diff_ids).toEqual(r.image.layers.map((l) => l.diffId));
  });

  it('sets created and history times from SOURCE_DATE_EPOCH, 0 otherwise', async () => {
    expect((await cfg('FROM scratch\nENV A=1\n')).created).toBe('1970-01-01T00:00:00Z');
    const c = await cfg('FROM scratch\nENV A=1\n', { sourceDateEpoch: 1700000000 });
    expect(c.created).toBe('2023-11-14T22:13:20Z');
    expect(c.history?.[0]?.created).toBe('2023-11-14T22:13:20Z');
  });

  it('--label adds labels to the final image', async () => {
    expect((await cfg('FROM scratch\nLABEL a=1\n', { labels: { b: '2' } })).config?.Labels).toEqual({ a: '1', b: '2' });
  });

  it('--platform sets the config platform', async () => {
    const c = await cfg('FROM scratch\n', { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    expect(c).toMatchObject({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  });
});

describe('stages and --target', () => {
  it('builds only the target and the stages it needs', async () => {
    const df = 'FROM scratch AS a\nLABEL s=a\nFROM scratch AS b\nCOPY missing /x\nFROM a AS c\nLABEL s=c\n';
    const c = await cfg(df, { target: 'c' });
    expect(c.config?.Labels).toEqual({ s: 'c' });
    await expect(cfg(df, { target: 'nope' })).rejects.toThrow(/target stage "nope" could not be found/);
  });
});

describe('a Dockerfile given as text (-f -)', () => {
  it('builds it and names it in errors', async () => {
    const r = await buildFrom('FROM scratch\n', {}, { dockerfileText: 'FROM scratch\nLABEL from=stdin\n' });
    expect(r.image.config.config?.Labels).toEqual({ from: 'stdin' });
    await expect(buildFrom('FROM scratch\n', {}, { dockerfileText: 'FROM scratch\nRUN x\n' })).rejects.toThrow(/^Dockerfile \(stdin\):2: RUN/);
  });
});

describe('parallel stages', () => {
  it('starts independent stages together, before either has finished', async () => {
    const events: string[] = [];
    const df = 'FROM scratch AS a\nCOPY f1 /a\nFROM scratch AS b\nCOPY f2 /b\nFROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n';
    const r = await buildFrom(df, { f1: '1', f2: '2' }, {
      onProgress: (e) => { if (e.kind === 'stage' || e.kind === 'stage-done') events.push(`${e.kind} ${e.stage.name ?? e.stage.index}`); },
    });
    expect(events.slice(0, 2)).toEqual(['stage a', 'stage b']);
    expect(events.at(-1)).toBe('stage-done 2');
    expect(r.image.layers).toHaveLength(2);
  });
});

describe('unsupported instructions fail with the line and a hint', () => {
  it.each([
    ['FROM scratch\nENV A=1\nRUN echo hi\n', /Dockerfile:3: RUN: the image has no \/bin\/sh/],
    ['FROM 127.0.0.1:1/alpine:3.20\n', /Dockerfile:1: FROM 127.0.0.1:1\/alpine:3.20: pulling 127.0.0.1:1\/alpine:3.20: .*failed/],
    ['FROM scratch\nCOPY --from=127.0.0.1:1/nothing /a /a\n', /Dockerfile:2: COPY: pulling 127.0.0.1:1\/nothing:latest: .*failed/],
    ['ENV A=1\nFROM scratch\n', /Dockerfile:1: ENV before the first FROM/],
    ['FROM scratch\nBOGUS x\n', /Dockerfile:2: unknown instruction: BOGUS/],
    ['FROM scratch\nCOPY --bogus=1 a b\n', /Dockerfile:2: unknown flag --bogus for COPY/],
    ['FROM scratch\nSHELL /bin/sh -c\n', /Dockerfile:2: SHELL requires the arguments to be in JSON form/],
    ['FROM scratch\nEXPOSE http\n', /Dockerfile:2: .*invalid port "http"/],
  ])('%j', async (df, re) => {
    const err = await buildFrom(df).then(() => undefined, (e: unknown) => e as Error & { hint?: string });
    expect(err?.message).toMatch(re);
    expect(err?.hint ?? '').not.toBe('');
  });
});
