import { describe, expect, it } from 'vitest';
import tar from 'tar-stream';
import { gzipSync } from 'node:zlib';
import { buildFrom, flatten } from '../helpers/build.js';

async function tarball(files: Record<string, string>, opts: { uid?: number } = {}): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith('/')) pack.entry({ name, type: 'directory', mode: 0o750, uid: opts.uid ?? 0, gid: opts.uid ?? 0 });
    else pack.entry({ name, mode: 0o640, uid: opts.uid ?? 0, gid: opts.uid ?? 0 }, content);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('COPY from the build context', () => {
  it('copies a file to a new path, creating parents', async () => {
    const r = await buildFrom('FROM scratch\nCOPY app /usr/local/bin/app\n', { app: { content: 'bin', mode: 0o755 } });
    const fs = flatten(r.layers);
    expect(fs.get('usr/local/bin/app')).toMatchObject({ type: 'file', mode: 0o755, content: 'bin', uid: 0, gid: 0 });
    expect(fs.get('usr/local')).toMatchObject({ type: 'directory', mode: 0o755 });
  });

  it('copies into a directory when the destination ends with /', async () => {
    const r = await buildFrom('FROM scratch\nCOPY a.txt b.txt /data/\n', { 'a.txt': 'A', 'b.txt': 'B' });
    const fs = flatten(r.layers);
    expect(fs.get('data/a.txt')?.content).toBe('A');
    expect(fs.get('data/b.txt')?.content).toBe('B');
  });

  it('copies the contents of a directory, not the directory itself', async () => {
    const r = await buildFrom('FROM scratch\nCOPY src /app\n', { 'src/main.go': 'package main', 'src/pkg/x.go': 'x', 'src/link': { link: 'main.go' } });
    const fs = flatten(r.layers);
    expect([...fs.keys()].sort()).toEqual(['app', 'app/link', 'app/main.go', 'app/pkg', 'app/pkg/x.go']);
    expect(fs.get('app/link')).toMatchObject({ type: 'symlink', linkname: 'main.go' });
  });

  it('expands wildcards', async () => {
    const r = await buildFrom('FROM scratch\nCOPY *.txt conf/?.ini /out/\n', { 'a.txt': '1', 'b.txt': '2', 'c.md': '3', 'conf/x.ini': 'i', 'conf/xy.ini': 'j' });
    const names = [...flatten(r.layers).keys()].sort();
    expect(names).toEqual(['out', 'out/a.txt', 'out/b.txt', 'out/x.ini']);
  });

  it('refuses several sources into a non-directory, with the line', async () => {
    await expect(buildFrom('FROM scratch\n\nCOPY a b /dest\n', { a: '1', b: '2' })).rejects.toThrow(/Dockerfile:3: COPY.*destination must be a directory and end with a \//);
    await expect(buildFrom('FROM scratch\nCOPY *.txt /dest\n', { 'a.txt': '1', 'b.txt': '2' })).rejects.toThrow(/Dockerfile:2: .*must be a directory/);
  });

  it('names the missing source', async () => {
    await expect(buildFrom('FROM scratch\nCOPY nope /x\n')).rejects.toThrow(/Dockerfile:2: COPY: "nope" not found in the build context/);
    // A wildcard that matches nothing is no error (BuildKit), and copies nothing.
    expect(flatten((await buildFrom('FROM scratch\nCOPY *.none /x/\n')).layers).size).toBe(0);
  });

  it('refuses sources outside the context', async () => {
    await expect(buildFrom('FROM scratch\nCOPY ../../etc/passwd /x\n')).rejects.toThrow(/outside the build context/);
  });

  it('applies --chown=uid:gid, a lone uid, and --chmod', async () => {
    const r = await buildFrom('FROM scratch\nCOPY --chown=1000:2000 --chmod=0640 d /d\nCOPY --chown=7 f /f\n', { 'd/x': 'x', f: 'f' });
    const fs = flatten(r.layers);
    expect(fs.get('d/x')).toMatchObject({ uid: 1000, gid: 2000, mode: 0o640 });
    expect(fs.get('d')).toMatchObject({ uid: 1000, gid: 2000 });
    expect(fs.get('f')).toMatchObject({ uid: 7, gid: 7 });
  });

  it('refuses a user name it cannot resolve, and a bad --chmod', async () => {
    await expect(buildFrom('FROM scratch\nCOPY --chown=nobody f /f\n', { f: 'f' })).rejects.toThrow(/unable to find user "nobody"/);
    await expect(buildFrom('FROM scratch\nCOPY --chmod=u+q f /f\n', { f: 'f' })).rejects.toThrow(/invalid --chmod/);
  });

  it('resolves a relative destination against WORKDIR', async () => {
    const r = await buildFrom('FROM scratch\nWORKDIR /srv/app\nCOPY f .\nCOPY f sub/\n', { f: 'f' });
    const fs = flatten(r.layers);
    expect(fs.get('srv/app/f')?.content).toBe('f');
    expect(fs.get('srv/app/sub/f')?.content).toBe('f');
  });

  it('preserves hardlinks inside a copied directory', async () => {
    const r = await buildFrom('FROM scratch\nCOPY d /d\n', { 'd/a': 'same', 'd/b': { hardlinkTo: 'd/a' } });
    const entries = r.layers[0]!;
    expect(entries.find((e) => e.name === 'd/a')).toMatchObject({ type: 'file', content: 'same' });
    expect(entries.find((e) => e.name === 'd/b')).toMatchObject({ type: 'link', linkname: 'd/a' });
  });

  it('writes heredocs as files', async () => {
    const r = await buildFrom('FROM scratch\nARG NAME=world\nCOPY <<EOF /etc/greeting\nhello $NAME\nEOF\nCOPY <<"RAW" /etc/raw\nkeep $NAME\nRAW\n');
    const fs = flatten(r.layers);
    expect(fs.get('etc/greeting')).toMatchObject({ content: 'hello world\n', mode: 0o644 });
    expect(fs.get('etc/raw')?.content).toBe('keep $NAME\n');
  });
});

describe('ADD from the build context', () => {
  it('extracts a local tar archive, keeping its modes and owners', async () => {
    const raw = await tarball({ 'pkg/': '', 'pkg/a.txt': 'A' }, { uid: 42 });
    const r = await buildFrom('FROM scratch\nADD rootfs.tar /opt/\nADD rootfs.tar.gz /gz\nADD --chown=5:6 rootfs.tar /owned/\n', {
      'rootfs.tar': raw,
      'rootfs.tar.gz': gzipSync(await tarball({ 'z.txt': 'Z' })),
    });
    const fs = flatten(r.layers);
    expect(fs.get('opt/pkg/a.txt')).toMatchObject({ content: 'A', uid: 42, mode: 0o640 });
    expect(fs.get('opt/pkg')).toMatchObject({ type: 'directory', mode: 0o750 });
    expect(fs.get('gz/z.txt')?.content).toBe('Z');
    expect(fs.get('owned/pkg/a.txt')).toMatchObject({ uid: 5, gid: 6 });
  });

  it('copies a non-archive file as is', async () => {
    const r = await buildFrom('FROM scratch\nADD notes.txt /n.txt\n', { 'notes.txt': 'plain' });
    expect(flatten(r.layers).get('n.txt')?.content).toBe('plain');
  });

  it('refuses a URL in COPY, and a git source in ADD, with a hint (ADD <url>: add-url.test.ts)', async () => {
    await expect(buildFrom('FROM scratch\nCOPY https://example.com/x /x\n')).rejects.toThrow(/Dockerfile:2: COPY cannot fetch a URL/);
    await expect(buildFrom('FROM scratch\nADD git@github.com:moby/buildkit.git /src\n')).rejects.toThrow(/Dockerfile:2: ADD from a git repository/);
  });
});

describe('.dockerignore', () => {
  const tree = {
    '.dockerignore': '# comment\n*.log\nsecret/\ndocs\n!docs/keep.md\n**/*.tmp\n',
    'a.log': 'x', 'app.go': 'go', 'secret/key': 'k', 'docs/drop.md': 'd', 'docs/keep.md': 'keep', 'sub/deep/x.tmp': 't', 'sub/deep/y.txt': 'y',
  };

  it('leaves ignored files out of a directory copy and keeps ! exceptions', async () => {
    const r = await buildFrom('FROM scratch\nCOPY . /ctx/\n', tree);
    const names = [...flatten(r.layers).keys()].filter((n) => n.startsWith('ctx/')).sort();
    expect(names).toEqual(['ctx/.dockerignore', 'ctx/Dockerfile', 'ctx/app.go', 'ctx/docs', 'ctx/docs/keep.md', 'ctx/sub', 'ctx/sub/deep', 'ctx/sub/deep/y.txt']);
  });

  it('makes an ignored file unavailable to COPY', async () => {
    await expect(buildFrom('FROM scratch\nCOPY secret/key /k\n', tree)).rejects.toThrow(/not found in the build context or excluded by .dockerignore/);
    expect([...flatten((await buildFrom('FROM scratch\nCOPY *.log /l/\n', tree)).layers).keys()].filter((p) => p.endsWith('.log'))).toEqual([]);
  });

  it('is case-sensitive, as Docker is on Linux', async () => {
    const r = await buildFrom('FROM scratch\nCOPY . /c/\n', { '.dockerignore': 'readme.md\n', 'README.md': 'r' });
    expect(flatten(r.layers).has('c/README.md')).toBe(true);
  });
});

describe('COPY --chmod, symbolic (BuildKit)', () => {
  it('applies u=rwX,go=rX to each entry\'s own mode: directories 755, files 644, executables 755; +x and 0o755 too', async () => {
    const { buildFrom, flatten } = await import('../helpers/build.js');
    const r = await buildFrom('FROM scratch\nCOPY --chmod=u=rwX,go=rX tree/ /t/\nCOPY --chmod=+x tree/plain.txt /x.txt\nCOPY --chmod=0o750 tree/plain.txt /o.txt\n', {
      'tree/plain.txt': { content: 'p', mode: 0o600 }, 'tree/tool.sh': { content: 't', mode: 0o700 }, 'tree/sub/deep.txt': { content: 'd', mode: 0o666 },
    });
    const all = flatten(r.layers);
    expect(all.get('t/plain.txt')?.mode).toBe(0o644);
    expect(all.get('t/tool.sh')?.mode).toBe(0o755);
    expect(all.get('t/sub/deep.txt')?.mode).toBe(0o644);
    expect(all.get('t/sub')?.mode).toBe(0o755);
    expect(all.get('x.txt')?.mode).toBe(0o711);
    expect(all.get('o.txt')?.mode).toBe(0o750);
  });

  it('refuses a value that is no mode when the Dockerfile is read, before any step runs', async () => {
    const { planDockerfile } = await import('../../src/dockerfile/stages.js');
    expect(() => planDockerfile('FROM scratch\nCOPY a /a\nCOPY --chmod=u=rwZ b /b\n', 'Dockerfile')).toThrow(/Dockerfile:3: invalid --chmod value "u=rwZ"/);
    expect(() => planDockerfile('FROM scratch\nARG M=755\nCOPY --chmod=$M b /b\n', 'Dockerfile')).not.toThrow();
  });
});
