import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Every test run gets a temporary root of its own: TMPDIR points into it for the test workers
// and every process they start (the CLI under test, registries), and it is removed when the
// run ends, so a run leaves nothing behind in the machine's temp dir, pass or fail.
export default function setup(): () => void {
  const outer = process.env.TMPDIR;
  // Lowercase only: buildah reads oci: paths under it as image names.
  const root = join(tmpdir(), `ocimake-testrun-${randomBytes(6).toString('hex')}`);
  mkdirSync(root, { mode: 0o755 }); // traversable: one interop test runs ocimake as nobody
  process.env.TMPDIR = root;
  return () => {
    if (outer === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outer;
    if (process.env.OCIMAKE_KEEP_TEST_TMP) {
      console.log(`kept the test run's temp dir: ${root} (${readdirSync(root).length} entries)`);
      return;
    }
    rmSync(root, { recursive: true, force: true });
  };
}
