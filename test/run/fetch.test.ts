import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { rawLayer } from '../helpers/layers.js';
import { zipOf } from '../helpers/zip.js';
import { tempDir } from '../helpers/tmp.js';

// RUN's "fetch, check, unpack" pattern, natively: wget (busybox's, in the Alpine base) and
// curl fetch over loopback HTTP into the RUN's filesystem, sha256sum -c checks the file.

let base: string;
let server: Server;
let url: string;
const tool = Buffer.from('#!/bin/sh\necho tool 1.0\n');
const sha = createHash('sha256').update(tool).digest('hex');
let tarball: Buffer;
let hostile: Buffer;
let zip: Buffer;
let zeros: { tgz: Buffer; zip: Buffer };
const shaOf = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`;
  tarball = await rawLayer([
    { name: 'tool-1.0/', type: 'directory', mode: 0o755 },
    { name: 'tool-1.0/bin/', type: 'directory', mode: 0o755 },
    { name: 'tool-1.0/bin/tool', content: tool.toString(), mode: 0o755, uid: 1000, gid: 1000 },
    { name: 'tool-1.0/bin/t', type: 'symlink', linkname: 'tool' },
    { name: 'tool-1.0/bin/tool2', type: 'link', linkname: 'tool-1.0/bin/tool' },
    { name: 'tool-1.0/share/doc/README', content: 'read me\n', mode: 0o644 },
  ]);
  hostile = await rawLayer([{ name: '../../etc/evil', content: 'x' }]);
  const z = '\0'.repeat(100_000);
  zeros = { tgz: await rawLayer([{ name: 'zeros', content: z }]), zip: await zipOf([{ name: 'zeros', content: z }]) };
  zip = await zipOf([
    { name: 'terraform', content: 'ELF terraform', mode: 0o755 },
    { name: 'docs/', dir: true, mode: 0o700 },
    { name: 'docs/LICENSE', content: 'MPL', mode: 0o666 },
    { name: 'docs/latest', link: 'LICENSE' },
  ]);
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/dl/tool-1.0.tar.gz') { res.writeHead(200, { 'content-length': tarball.length }).end(tarball); return; }
    if (path === '/dl/zeros.tar.gz') { res.writeHead(200).end(zeros.tgz); return; }
    if (path === '/dl/zeros.zip') { res.writeHead(200).end(zeros.zip); return; }
    if (path === '/dl/tf.zip') { res.writeHead(200, { 'content-length': zip.length }).end(zip); return; }
    if (path === '/dl/evil.tar.gz') { res.writeHead(200, { 'content-length': hostile.length }).end(hostile); return; }
    if (path === '/dl/tool-1.0.sh') { res.writeHead(200, { 'content-length': tool.length }).end(tool); return; }
    if (path === '/latest') { res.writeHead(302, { location: '/dl/tool-1.0.sh' }).end(); return; }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => { await new Promise<void>((r) => server.close(() => r())); });

async function run(lines: string) {
  // The interpreter alone: under auto, what it refuses would be executed in a sandbox.
  const r = await buildFrom(`FROM ${base}\n${lines}\n`, {}, { isolation: 'native' });
  return { ...r, top: flatten(r.layers.slice(1)) };
}

describe('RUN wget, curl and sha256sum', () => {
  it('fetches, checks and installs a file, as a Dockerfile does with wget', async () => {
    const r = await run(`RUN wget -q -O /tmp/tool.sh ${url}/dl/tool-1.0.sh \\
 && echo "${sha}  /tmp/tool.sh" | sha256sum -c - \\
 && install_dir=/usr/local/bin && mv /tmp/tool.sh $install_dir/tool && chmod +x $install_dir/tool`);
    expect(r.top.get('usr/local/bin/tool')).toMatchObject({ type: 'file', mode: 0o755, content: tool.toString() });
    expect(r.top.has('tmp/tool.sh')).toBe(false);
  });

  it('names the file after the URL in the current directory (or -P), and follows redirects', async () => {
    const r = await run(`WORKDIR /srv\nRUN wget ${url}/dl/tool-1.0.sh && wget -q -P /opt ${url}/latest && wget -qO- ${url}/dl/tool-1.0.sh > /copy`);
    expect(r.top.get('srv/tool-1.0.sh')?.content).toBe(tool.toString());
    expect(r.top.get('opt/latest')?.content).toBe(tool.toString());
    expect(r.top.get('copy')?.content).toBe(tool.toString());
    // As busybox: a name taken from the URL is not overwritten.
    await expect(run(`WORKDIR /srv\nRUN wget -q ${url}/dl/tool-1.0.sh && wget -q ${url}/dl/tool-1.0.sh`)).rejects.toThrow(/can't open 'tool-1.0.sh': File exists/);
  });

  it('exits as wget and curl do on an error answer, so `||` works', async () => {
    const r = await run(`RUN ln -s /bin/busybox /usr/bin/curl\nRUN wget -q ${url}/missing || echo wget=$? > /w; curl -fsS ${url}/missing || echo curl=$? > /c`);
    expect(r.top.get('w')?.content).toBe('wget=8\n');
    expect(r.top.get('c')?.content).toBe('curl=22\n');
  });

  it('fails the RUN when the checksum does not match, with sha256sum\'s words', async () => {
    await expect(run(`RUN wget -q -O /tmp/t ${url}/dl/tool-1.0.sh && echo "${'0'.repeat(64)}  /tmp/t" | sha256sum -c -`))
      .rejects.toThrow(/exit code: 1[\s\S]*\/tmp\/t: FAILED/);
  });

  it('curl -fsSL with -o, -O and standard output, when the image has curl', async () => {
    // In real use curl comes from `apk add curl`; here a stand-in program makes it present.
    const r = await run(`RUN ln -s /bin/busybox /usr/bin/curl\nWORKDIR /w\nRUN curl -fsSL -o /opt/a ${url}/latest && curl -fsSLO ${url}/dl/tool-1.0.sh && curl -sS ${url}/dl/tool-1.0.sh | sha256sum > /w/sum && curl -fsSL --create-dirs -o /deep/er/b ${url}/latest`);
    expect(r.top.get('opt/a')?.content).toBe(tool.toString());
    expect(r.top.get('w/tool-1.0.sh')?.content).toBe(tool.toString());
    expect(r.top.get('w/sum')?.content).toBe(`${sha}  -\n`);
    expect(r.top.get('deep/er/b')?.content).toBe(tool.toString());
  });

  it('refuses what it would send without (headers, data), and curl where the image has none', async () => {
    await expect(run(`RUN wget --header "Authorization: x" ${url}/dl/tool-1.0.sh`)).rejects.toThrow(/wget --header is not supported natively/);
    await expect(run(`RUN curl -fsSL ${url}/dl/tool-1.0.sh -o /x`)).rejects.toThrow(/curl: not found/);
  });

  it('fetch, check, unpack: tar -xzf with -C and --strip-components keeps owners, modes, links', async () => {
    const r = await run(`RUN wget -qO /tmp/t.tgz ${url}/dl/tool-1.0.tar.gz \\
 && echo "${shaOf(tarball)}  /tmp/t.tgz" | sha256sum -c - \\
 && tar -xzf /tmp/t.tgz -C /usr/local --strip-components=1 && rm /tmp/t.tgz`);
    expect(r.top.get('usr/local/bin/tool')).toMatchObject({ type: 'file', mode: 0o755, uid: 1000, gid: 1000, content: tool.toString() });
    expect(r.top.get('usr/local/bin/t')).toMatchObject({ type: 'symlink', linkname: 'tool' });
    expect(r.top.get('usr/local/bin/tool2')).toMatchObject({ type: 'link', linkname: 'usr/local/bin/tool' });
    expect(r.top.get('usr/local/share/doc/README')?.content).toBe('read me\n');
    expect([...r.top.keys()].some((k) => k.startsWith('usr/local/tool-1.0'))).toBe(false);
    expect(r.top.has('tmp/t.tgz')).toBe(false);
  });

  it('tar: old-style letters, members, -t, -O and -o', async () => {
    const r = await run(`WORKDIR /src\nRUN wget -q ${url}/dl/tool-1.0.tar.gz && tar xzf tool-1.0.tar.gz tool-1.0/share && tar -tzf tool-1.0.tar.gz > /list && tar -xzOf tool-1.0.tar.gz tool-1.0/bin/tool > /out && mkdir /o && tar -xzof tool-1.0.tar.gz -C /o tool-1.0/bin/tool && rm tool-1.0.tar.gz`);
    expect(r.top.get('src/tool-1.0/share/doc/README')?.content).toBe('read me\n');
    expect(r.top.has('src/tool-1.0/bin/tool')).toBe(false);
    expect(r.top.get('list')?.content).toBe('tool-1.0/\ntool-1.0/bin/\ntool-1.0/bin/tool\ntool-1.0/bin/t\ntool-1.0/bin/tool2\ntool-1.0/share/doc/README\n');
    expect(r.top.get('out')?.content).toBe(tool.toString());
    expect(r.top.get('o/tool-1.0/bin/tool')).toMatchObject({ uid: 0, gid: 0 });
  });

  it('tar refuses what it cannot do (create, bzip2) and archives that climb out', async () => {
    await expect(run('RUN tar -czf /x.tgz /etc')).rejects.toThrow(/tar -c is not supported natively/);
    await expect(run('RUN tar -xjf /x.tar.bz2')).rejects.toThrow(/tar -j \(bzip2\) is not supported natively/);
    await expect(run('RUN printf \'not xz\' > /x.tar.xz && tar -xJf /x.tar.xz')).rejects.toThrow(/exit code: 1/);
    await expect(run(`RUN wget -qO /e.tgz ${url}/dl/evil.tar.gz && tar -xzf /e.tgz -C /tmp`)).rejects.toThrow(/climbs out/);
    await expect(run(`RUN wget -qO /t.tgz ${url}/dl/tool-1.0.tar.gz && tar -xzf /t.tgz nothing/here`)).rejects.toThrow(/exit code: 2[\s\S]*Not found in archive/);
  });

  it('unzip: a zip release into a directory, modes under the umask, symlinks kept', async () => {
    const r = await run(`WORKDIR /tmp\nRUN wget -q ${url}/dl/tf.zip && unzip -q tf.zip -d /usr/local/bin && rm tf.zip && unzip 2>/dev/null; true`);
    expect(r.top.get('usr/local/bin/terraform')).toMatchObject({ type: 'file', mode: 0o755, uid: 0, content: 'ELF terraform' });
    expect(r.top.get('usr/local/bin/docs')).toMatchObject({ type: 'directory', mode: 0o700 });
    expect(r.top.get('usr/local/bin/docs/LICENSE')).toMatchObject({ mode: 0o644, content: 'MPL' });
    expect(r.top.get('usr/local/bin/docs/latest')).toMatchObject({ type: 'symlink', linkname: 'LICENSE' });
  });

  it('unzip: -o, -n, -j, -x, -p and -l; an existing file is not replaced without -o', async () => {
    const r = await run(`WORKDIR /z\nRUN wget -q ${url}/dl/tf.zip && unzip -q tf.zip && echo old > terraform && unzip -qn tf.zip terraform && cp terraform /kept && unzip -qo tf.zip terraform && mkdir /j && unzip -qj tf.zip -d /j -x terraform && unzip -p tf.zip docs/LICENSE > /p && unzip -l tf.zip > /l`);
    expect(r.top.get('kept')?.content).toBe('old\n');
    expect(r.top.get('z/terraform')?.content).toBe('ELF terraform');
    expect([...r.top.keys()].filter((k) => k.startsWith('j/')).sort()).toEqual(['j/LICENSE', 'j/latest']);
    expect(r.top.get('p')?.content).toBe('MPL');
    expect(r.top.get('l')?.content).toContain('docs/LICENSE');
    await expect(run(`WORKDIR /z\nRUN wget -q ${url}/dl/tf.zip && unzip -q tf.zip && unzip -q tf.zip`)).rejects.toThrow(/use unzip -o to replace/);
  });

  it('bounds what a RUN command holds in memory (runFileSize): downloads and unpacked archives', async () => {
    process.env.OCIMAKE_MAX_RUN_FILE_SIZE = '16';
    try {
      await expect(run(`RUN wget -q -O /t ${url}/dl/tool-1.0.sh`)).rejects.toThrow(/is 24 bytes: past the limit runFileSize \(16 B\)/);
      // Small downloads that unpack past the limit (100,000 zero bytes).
      process.env.OCIMAKE_MAX_RUN_FILE_SIZE = '8KiB';
      await expect(run(`RUN wget -qO /t.tgz ${url}/dl/zeros.tar.gz && tar -xzf /t.tgz -C /tmp`)).rejects.toThrow(/unpacks to more than 8192 bytes: past the limit runFileSize/);
      await expect(run(`RUN wget -qO /t.zip ${url}/dl/zeros.zip && unzip -q /t.zip -d /tmp`)).rejects.toThrow(/unpacks to more than 8192 bytes: past the limit runFileSize/);
      await expect(run(`RUN wget -qO /t.tgz ${url}/dl/zeros.tar.gz && gunzip /t.tgz`)).rejects.toThrow(/unpacks to more than 8192 bytes: past the limit runFileSize/);
    } finally {
      delete process.env.OCIMAKE_MAX_RUN_FILE_SIZE;
    }
  });
});
