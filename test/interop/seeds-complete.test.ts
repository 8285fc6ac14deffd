import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { serveStatic } from '../helpers/apk-repo.js';
import { writeTree } from '../helpers/tmp.js';
import { alpineWithMirror } from './alpine-mirror.js';
import { goImage } from './toolchain.js';
import { requireTools, run, runOcimakeAsync } from './tools.js';

// Issue 26's acceptance: seeds 003 and 004's complete Dockerfiles, verbatim, builder stage
// included (`go get`, then `go build -a` executed in a sandbox), with only their base images
// pointed at local ones by --build-context: golang:1.7.3 is Debian's Go toolchain in an image
// made here, alpine:latest the real Alpine 3.20.3 rootfs, apk's mirror a loopback repository.
// `go get -d golang.org/x/net/html` would fetch from golang.org: the toolchain image carries
// Debian's copy of golang.org/x/net in a second GOPATH entry, so go get finds the package
// present and fetches nothing, as it does for a package already in GOPATH. The image the build
// gives runs its app under chroot, and the app (href-counter, written here with x/net/html as
// the article's is) counts the links of a page served on loopback.

const SEED_003 = `FROM golang:1.7.3 as builder
WORKDIR /go/src/github.com/alexellis/href-counter/
RUN go get -d -v golang.org/x/net/html  
COPY app.go    .
RUN CGO_ENABLED=0 GOOS=linux go build -a -installsuffix cgo -o app .

FROM alpine:latest  
RUN apk --no-cache add ca-certificates
WORKDIR /root/
COPY --from=builder /go/src/github.com/alexellis/href-counter/app .
CMD ["./app"]  
`;

const SEED_004 = `FROM golang:1.7.3 AS builder
WORKDIR /go/src/github.com/alexellis/href-counter/
RUN go get -d -v golang.org/x/net/html  
COPY app.go    .
RUN CGO_ENABLED=0 GOOS=linux go build -a -installsuffix cgo -o app .

FROM alpine:latest  
RUN apk --no-cache add ca-certificates
WORKDIR /root/
COPY --from=builder /go/src/github.com/alexellis/href-counter/app .
CMD ["./app"] 
`;

const HREF_COUNTER = `package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"

	"golang.org/x/net/html"
)

type counts struct {
	Internal int \`json:"internal"\`
	External int \`json:"external"\`
}

func main() {
	url := os.Getenv("url")
	res, err := http.Get(url)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\\n")
		os.Exit(1)
	}
	defer res.Body.Close()
	doc, err := html.Parse(res.Body)
	if err != nil {
		os.Exit(1)
	}
	var c counts
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" {
			for _, a := range n.Attr {
				if a.Key == "href" {
					if strings.HasPrefix(a.Val, url) || strings.HasPrefix(a.Val, "/") {
						c.Internal++
					} else {
						c.External++
					}
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	out, _ := json.Marshal(c)
	os.Stdout.Write(append(out, '\\n'))
}
`;

const PAGE = '<html><body><a href="/about">about</a><a href="/blog">blog</a><a href="https://example.org/">out</a></body></html>';

describe('seeds 003 and 004: the complete Dockerfiles, builder stage executed', () => {
  const work = mkdtempSync(join(tmpdir(), 'ocimake-seeds-complete-'));
  const golang = join(work, 'golang');
  const alpine = join(work, 'alpine');
  let repo: Awaited<ReturnType<typeof serveStatic>> | undefined;
  let page: Server | undefined;
  let pageUrl = '';

  beforeAll(async () => {
    requireTools('go', 'unshare', 'chroot', 'ldd', 'umoci');
    const xnet = '/usr/share/gocode';
    const present = run('sh', ['-c', `test -d ${xnet}/src/golang.org/x/net/html && echo yes || echo no`]).trim();
    if (present !== 'yes') throw new Error(`interop tools missing: golang.org/x/net in ${xnet}. Install it with: apt-get update && apt-get install -y golang-golang-x-net-dev (or run .ci/run)`);
    goImage(work, golang, '1.7.3', { gopath: xnet });
    ({ repo } = await alpineWithMirror(work));
    page = createServer((_req, res) => res.end(PAGE));
    await new Promise<void>((r) => page!.listen(0, '127.0.0.1', r));
    const addr = page.address();
    pageUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }, 600_000);

  afterAll(async () => {
    await repo?.close();
    page?.close();
    rmSync(work, { recursive: true, force: true });
  });

  async function build(name: string, dockerfile: string): Promise<{ rootfs: string; bundle: string; stderr: string }> {
    const ctx = writeTree(join(work, `ctx-${name}`), { Dockerfile: dockerfile, 'app.go': HREF_COUNTER });
    const oci = join(work, `out-${name}`);
    const r = await runOcimakeAsync([
      'build', ctx, '--apk-mirror', repo!.url,
      '--build-context', `golang:1.7.3=oci-layout://${golang}:1.7.3`,
      '--build-context', `alpine:latest=oci-layout://${alpine}:latest`,
      '-o', `type=oci,dest=${oci}`, '-t', `seed/${name}:1`, '--progress=plain', '--cache-dir', join(work, 'cache'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const bundle = join(work, `bundle-${name}`);
    run('umoci', ['unpack', '--image', `${oci}:1`, bundle]);
    return { rootfs: join(bundle, 'rootfs'), bundle, stderr: r.stderr };
  }

  /** Runs the image's CMD from its WorkingDir under chroot, as a runtime would, with url set. */
  function runApp(rootfs: string, bundle: string): Promise<string> {
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string } };
    expect(spec.process.args).toEqual(['./app']);
    expect(spec.process.cwd).toBe('/root/');
    return new Promise((resolve, reject) => {
      const child = spawn('chroot', [rootfs, '/bin/sh', '-c', `cd ${spec.process.cwd} && exec ./app`], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', url: pageUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`./app exited ${code}: ${err}`))));
    });
  }

  it('seed 003 builds: go get finds x/net, go build -a runs in the sandbox, and the app counts the links', async () => {
    const { rootfs, bundle, stderr } = await build('003', SEED_003);
    expect(stderr).toMatch(/RUN CGO_ENABLED=0 GOOS=linux go build -a -installsuffix cgo -o app \./);
    expect(readFileSync(join(rootfs, 'lib/apk/db/installed'), 'utf8')).toContain('P:ca-certificates\n');
    expect(await runApp(rootfs, bundle)).toBe('{"internal":2,"external":1}\n');
  }, 600_000);

  it('seed 004 builds; its builder steps, the same as 003\'s, are answered from the step cache', async () => {
    const { rootfs, bundle, stderr } = await build('004', SEED_004);
    expect(stderr).toMatch(/go build -a -installsuffix cgo -o app \.\n#\d+ CACHED/);
    expect(await runApp(rootfs, bundle)).toBe('{"internal":2,"external":1}\n');
  }, 600_000);
});
