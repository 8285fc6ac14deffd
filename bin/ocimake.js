#!/usr/bin/env node
// Entry point of the `ocimake` command. The CLI is bundled into dist/cli/ by `npm run build`
// (run automatically by `npm ci`/`npm install` through the `prepare` script): one file loads
// faster than the ~150 modules tsc writes to dist/src/.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { availableParallelism } from 'node:os';

// gzip blocks are deflated on libuv's thread pool (4 threads unless told): on larger machines,
// as many as the cores ocimake deflates with (at most 8), plus two for file reads. Set before
// anything uses the pool, which reads it once.
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(4, Math.min(availableParallelism(), 8) + 2));

// Node 22.1+: V8 keeps the bundle's compiled code between runs (in the temp dir), about 20 ms
// less start-up per command. Where it cannot (a read-only temp dir), nothing changes.
try {
  module.enableCompileCache?.();
} catch {
  /* start-up is only slower */
}

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('error: ocimake is not built (dist/ is missing)\nhint: run "npm run build" in the ocimake directory\n');
  process.exit(1);
}
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
