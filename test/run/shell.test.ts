import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OcimakeError } from '../../src/errors.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';
import type { ReadEntry } from '../helpers/tar.js';

// Issue 7: RUN's shell and file commands, interpreted natively over the stage's filesystem.
// The interop suite compares the same Dockerfiles with buildah running the real busybox.

let base: string;
beforeAll(() => { base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`; });

/** Builds on the Alpine base; returns the RUN layers' entries (everything above the base) and the whole image. */
async function run(lines: string, tree: Record<string, string> = {}) {
  // The interpreter alone: nothing is executed (--isolation native).
  const r = await buildFrom(`FROM ${base}\n${lines}\n`, tree, { isolation: 'native' });
  return { ...r, mine: r.layers.slice(1), top: flatten(r.layers.slice(1)), all: flatten(r.layers) };
}

const names = (l: ReadEntry[]) => l.map((e) => e.name.replace(/\/$/, ''));

describe('RUN with shell file commands', () => {
  it('runs the zoneinfo pattern of seed 000: ln -sf, echo > file', async () => {
    const r = await run('RUN mkdir -p /usr/share/zoneinfo/Asia && echo TZif > /usr/share/zoneinfo/Asia/Shanghai\nRUN ln -sf /usr/share/zoneinfo/Asia/Shanghai /etc/localtime && echo Asia/Shanghai > /etc/timezone');
    expect(r.top.get('etc/localtime')).toMatchObject({ type: 'symlink', linkname: '/usr/share/zoneinfo/Asia/Shanghai' });
    expect(r.top.get('etc/timezone')?.content).toBe('Asia/Shanghai\n');
    expect(r.top.get('usr/share/zoneinfo/Asia/Shanghai')?.content).toBe('TZif\n');
    expect(r.image.config.history?.at(-1)?.created_by).toContain('ln -sf /usr/share/zoneinfo/Asia/Shanghai /etc/localtime');
  });

  it('writes, copies and appends to a file larger than what a RUN keeps in memory (kept on disk meanwhile)', async () => {
    const r = await run('RUN seq 1000000 > /a && cat /a /a > /big && rm /a && cp /big /big2 && echo end >> /big2 && wc -c /big /big2 > /sizes');
    const half = Array.from({ length: 1000000 }, (_, i) => `${i + 1}\n`).join('');
    const want = half + half;
    expect(r.top.get('big')?.content).toBe(want);
    expect(r.top.get('big2')?.content).toBe(`${want}end\n`);
    expect(r.top.get('sizes')?.content).toMatch(new RegExp(`^\\s*${want.length} /big\\n\\s*${want.length + 4} /big2\\n`));
  });

  it('rm -rf of lower paths writes whiteouts; a directory removed and made again is opaque', async () => {
    const r = await run('RUN rm -rf /etc/motd /var/cache/* /media\nRUN rm -rf /opt && mkdir -p /opt/new\nRUN rm -rf /etc/apk && mkdir /etc/apk && echo x > /etc/apk/world');
    const [l1, l2, l3] = r.mine.map(names);
    expect(l1).toContain('etc/.wh.motd');
    expect(l1).toContain('.wh.media');
    expect(l1).toContain('var/cache/.wh.misc');
    expect(l2).toContain('opt/new');
    expect(l3).toContain('etc/apk/.wh..wh..opq');
    expect(l3).toContain('etc/apk/world');
    expect(l3).not.toContain('etc/apk/keys');
  });

  it('adduser -S -D and addgroup -S edit passwd, group and shadow as busybox does', async () => {
    const r = await run('RUN addgroup -S app && adduser -S -D -G app app && adduser -D normal');
    const passwd = r.top.get('etc/passwd')!.content!;
    expect(passwd).toContain('app:x:100:101:Linux User,,,:/home/app:/sbin/nologin\n');
    expect(passwd).toContain('normal:x:1000:1000:Linux User,,,:/home/normal:/bin/sh\n');
    expect(r.top.get('etc/group')!.content).toContain('app:x:101:app\nnormal:x:1000:\n');
    expect(r.top.get('etc/shadow')!.content).toContain('app:!::0:99999:7:::\n');
    expect(r.top.get('etc/shadow')).toMatchObject({ mode: 0o640, gid: 42 });
    expect(r.top.get('home/app')).toMatchObject({ type: 'directory', uid: 100, gid: 101, mode: 0o2755 });
  });

  it('files a RUN creates belong to USER; chmod and chown -R work by name', async () => {
    const r = await run('RUN adduser -D app && mkdir -p /srv/data && touch /srv/data/a && chown -R app:app /srv && chmod -R g+w,o-rx /srv\nUSER app\nRUN touch /tmp/mine && mkdir /tmp/d');
    expect(r.top.get('srv/data/a')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o660 });
    expect(r.top.get('srv/data')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o770 });
    expect(r.top.get('tmp/mine')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o644 });
    expect(r.top.get('tmp/d')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o755 });
  });

  it('interprets set -eux, if, for, case, $(...), ${VAR:-x}, heredocs, pipes and ENV/ARG', async () => {
    const r = await run([
      'ARG FLAVOUR=mint',
      'ENV DEST=/opt/out',
      'RUN set -eux; mkdir -p "$DEST"; for f in a b c; do echo "$f-${FLAVOUR}" >> "$DEST/list"; done; \\',
      '    if [ -f /etc/alpine-release ]; then cp /etc/alpine-release "$DEST/"; else echo no > "$DEST/none"; fi; \\',
      '    case "$FLAVOUR" in m*) echo matched > $DEST/case;; *) false;; esac; \\',
      '    echo "$(cat /etc/alpine-release | sed -e "s/\\./-/g")" > $DEST/version; printf "%s=%d\\n" n 42 | tee $DEST/printf >/dev/null',
      'RUN <<EOF',
      'set -e',
      'cat > /opt/out/heredoc <<EOT',
      'home=$HOME user=${USER:-none}',
      'EOT',
      'EOF',
    ].join('\n'));
    expect(r.top.get('opt/out/list')?.content).toBe('a-mint\nb-mint\nc-mint\n');
    expect(r.top.get('opt/out/alpine-release')?.content).toBe('3.20.3\n');
    expect(r.top.get('opt/out/case')?.content).toBe('matched\n');
    expect(r.top.get('opt/out/version')?.content).toBe('3-20-3\n');
    expect(r.top.get('opt/out/printf')?.content).toBe('n=42\n');
    expect(r.top.get('opt/out/heredoc')?.content).toBe('home=/root user=none\n');
    expect(r.top.has('opt/out/none')).toBe(false);
  });

  it('sed -i edits in place and keeps owner and mode', async () => {
    const r = await run("RUN sed -i -e 's/^root:x:0:0:root:\\/root:\\/bin\\/ash$/root:x:0:0:root:\\/root:\\/bin\\/sh/' /etc/passwd && sed -i '/^guest:/d' /etc/passwd");
    const passwd = r.top.get('etc/passwd')!;
    expect(passwd.content).toMatch(/^root:x:0:0:root:\/root:\/bin\/sh\n/);
    expect(passwd.content).not.toContain('guest:');
    expect(passwd.mode).toBe(0o644);
  });

  it('cp -a, mv and RUN --mount=type=cache (what lands there stays out of the layer)', async () => {
    const r = await run('RUN --mount=type=cache,target=/var/cache/apk cp -a /etc/apk /opt/apk && mv /opt/apk /opt/apk2 && echo x > /var/cache/apk/junk');
    expect(r.top.get('opt/apk2/keys')).toMatchObject({ type: 'directory' });
    expect([...r.top.keys()].some((k) => k.startsWith('opt/apk2/keys/alpine-devel'))).toBe(true);
    expect(r.top.has('opt/apk')).toBe(false);
    expect([...r.top.keys()].some((k) => k.startsWith('var/cache/apk'))).toBe(false);
  });

  it('a failing command fails the build with its exit code and output', async () => {
    const err = await run('RUN echo about to fail && make all || false').catch((e: unknown) => e);
    // make is not native: with --isolation native, refused before anything runs, naming the line and the program.
    expect(err).toBeInstanceOf(OcimakeError);
    expect((err as Error).message).toMatch(/^Dockerfile:2: RUN would execute "make", and --isolation native executes nothing/);
    const err1 = await run('RUN echo about to fail && ls /nonexistent-dir-x').catch((e: unknown) => e);
    expect((err1 as Error).message).toMatch(/exit code: 1\nabout to fail\nls: \/nonexistent-dir-x: No such file or directory$/);
    const err2 = await run('RUN set -e; echo one; false; echo never').catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/exit code: 1\none$/);
  });

  it('refuses a program it would have to execute, before any layer is written', async () => {
    const err = await run('RUN apk --version >/dev/null; go build -o /app .').catch((e: unknown) => e) as OcimakeError;
    expect(err.message).toMatch(/^Dockerfile:2: RUN would execute "(go|apk)", and --isolation native executes nothing/);
    expect(err.hint).toMatch(/--isolation auto, rootless or chroot .*COPY it in.*--build-context STAGE=DIR/);
  });
});

describe('stages on one base, run at once', () => {
  it('each RUN reads the base\'s files whole (spooled files of two stages once shared a name and mixed)', async () => {
    const n = 12;
    const stages = Array.from({ length: n }, (_v, i) => `FROM ${base} AS s${i}\nRUN cat /etc/group /etc/passwd /etc/shadow > /out${i}\n`).join('');
    const copies = Array.from({ length: n }, (_v, i) => `COPY --from=s${i} /out${i} /`).join('\n');
    const r = await buildFrom(`${stages}FROM scratch\n${copies}\n`, {}, { isolation: 'native' });
    const all = flatten(r.layers);
    const want = all.get('out0')!.content!;
    expect(want).toMatch(/^root:x:0:root\n[\s\S]*users:x:100:games\n[\s\S]*root:x:0:0:root/);
    for (let i = 1; i < n; i++) expect(all.get(`out${i}`)?.content).toBe(want);
  });
});

describe('SHELL with options', () => {
  it('SHELL ["/bin/ash", "-eo", "pipefail", "-c"] sets errexit and pipefail for the RUNs after it', async () => {
    // Before: "set: -o: option not interpreted here".
    const ok = await run('SHELL ["/bin/ash", "-eo", "pipefail", "-c"]\nRUN echo "$-" > /flags; true | true; echo ran > /ran');
    expect(ok.top.get('flags')?.content).toMatch(/e/);
    expect(ok.top.get('ran')?.content).toBe('ran\n');
    await expect(run('SHELL ["/bin/ash", "-eo", "pipefail", "-c"]\nRUN false | true; echo never > /never')).rejects.toThrow(/exit code: 1/);
  });
});

describe('RUN --mount=type=bind, natively', () => {
  it('binds a context file or directory, read-only and out of the layer; rw writes are thrown away', async () => {
    // Before: "RUN --mount=type=bind is not supported natively" (9 real-world RUNs).
    const tree = { 'go.mod': 'module x\n', 'conf/a.conf': 'A=1\n', 'conf/sub/b.conf': 'B=2\n' };
    const r = await run([
      'WORKDIR /src',
      'RUN --mount=type=bind,source=go.mod,target=go.mod --mount=type=bind,source=conf,target=/etc/app cat go.mod /etc/app/a.conf /etc/app/sub/b.conf > /out && ls /etc/app >> /out',
      'RUN --mount=type=bind,source=conf,target=/etc/app (echo x > /etc/app/new 2>/dev/null || echo refused) >> /out; (rm /etc/app/a.conf 2>/dev/null || echo kept) >> /out',
      'RUN --mount=type=bind,source=conf,target=/etc/app,rw echo scratch > /etc/app/new && cat /etc/app/new >> /out',
    ].join('\n'), tree);
    expect(r.top.get('out')?.content).toBe('module x\nA=1\nB=2\na.conf\nsub\nrefused\nkept\nscratch\n');
    expect([...r.top.keys()].filter((k) => k.startsWith('etc/app') || k === 'src/go.mod')).toEqual([]);
    expect(r.top.get('src')).toMatchObject({ type: 'directory' });
  });

  it('binds a path of another stage with from=', async () => {
    const r = await run(`FROM ${base} AS tools\nRUN mkdir -p /opt/tool && echo v1 > /opt/tool/VERSION\nFROM ${base}\nRUN --mount=type=bind,from=tools,source=/opt/tool,target=/mnt cat /mnt/VERSION > /got`);
    expect(r.top.get('got')?.content).toBe('v1\n');
    expect([...r.top.keys()].filter((k) => k.startsWith('mnt/'))).toEqual([]);
  });

  it('a native RUN with a bind is keyed by what it binds: the same context hits, a changed file runs it again', async () => {
    const { build } = await import('../../src/builder/build.js');
    const { writeFileSync } = await import('node:fs');
    const ctx = tempDir();
    const cacheDir = tempDir();
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN --mount=type=bind,source=v.txt,target=/v.txt cat /v.txt > /copy\n`);
    writeFileSync(join(ctx, 'v.txt'), 'one\n');
    const cached: boolean[] = [];
    const onProgress = (e: { kind: string; cached?: boolean }) => { if (e.kind === 'step-done') cached.push(e.cached === true); };
    const content = async (r: Awaited<ReturnType<typeof build>>) => (await import('../helpers/tar.js')).readTar(await r.image.layers.at(-1)!.source.open(r.image.layers.at(-1)!.descriptor.digest));
    const first = await build({ context: ctx, cacheDir, isolation: 'native' });
    expect((await content(first)).find((e) => e.name === 'copy')?.content).toBe('one\n');
    await build({ context: ctx, cacheDir, isolation: 'native', onProgress });
    expect(cached).toEqual([true]);
    writeFileSync(join(ctx, 'v.txt'), 'two\n');
    const changed = await build({ context: ctx, cacheDir, isolation: 'native' });
    expect((await content(changed)).find((e) => e.name === 'copy')?.content).toBe('two\n');
  });
});

