import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireTools, run } from './tools.js';

// The seed article's server (seed 000: GET /ping answers PONG), written with the standard
// library only so it builds offline. ADDR lets the test pick a free loopback port.
export const GO_SERVER_SOURCE = `package main

import (
	"net/http"
	"os"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	http.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("PONG"))
	})
	if err := http.ListenAndServe(addr, nil); err != nil {
		os.Stderr.WriteString(err.Error() + "\\n")
		os.Exit(1)
	}
}
`;

/** Seed 001's complete Dockerfile (its builder stage runs go build), on the Go image `base`. */
export const seed001Dockerfile = (base: string): string => `FROM ${base}
COPY server.go /build/
WORKDIR /build
RUN CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOARM=6 go build -ldflags '-w -s' -o server
FROM scratch
COPY --from=0 /build/server /
ENTRYPOINT ["/server"]
`;

/** Builds the static Go server into `outDir/app-server` (CGO_ENABLED=0, -ldflags '-w -s'). */
export function buildGoServer(workDir: string, outDir: string): string {
  requireTools('go');
  const src = join(workDir, 'go-src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'main.go'), GO_SERVER_SOURCE);
  writeFileSync(join(src, 'go.mod'), 'module example.com/appserver\n\ngo 1.19\n');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, 'app-server');
  run('go', ['build', '-ldflags', '-w -s', '-o', out, '.'], {
    cwd: src,
    env: { CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOPROXY: 'off', GOCACHE: join(workDir, 'gocache'), GOPATH: join(workDir, 'gopath'), HOME: workDir },
  });
  return out;
}
