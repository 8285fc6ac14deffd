import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Compiles src/ to dist/ and bundles the CLI once, so that tests which run the real
// `bin/ocimake.js` run the code under test, not a stale build.
export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [`${root}scripts/bundle.js`], { cwd: root, stdio: 'inherit' });
}
