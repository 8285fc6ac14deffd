// Bundles the CLI (src/cli/main.ts and everything it imports, zod and commander
// included) into dist/cli/ with esbuild: one file to load instead of ~150 modules, which cuts
// about 0.07 s off every command's start-up (measured in BENCHMARKS.md's W1/W4 rows). Modules
// loaded lazily (signing, the embedded registry, RUN's shell) become chunks of their own, loaded
// when used. The signing and SBOM libraries stay in node_modules: they are large, loaded only
// with --sign/--sbom, and read their own files. dist/src (tsc's output) remains the library.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(`${root}dist/cli`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  external: ['@sigstore/*', '@cyclonedx/*', 'bcryptjs'],
  // CommonJS dependencies (commander) call require() for Node's built-ins.
  banner: { js: "import { createRequire as __ocimakeCreateRequire } from 'node:module'; const require = __ocimakeCreateRequire(import.meta.url);" },
});
