import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 28: the package has an exports map. `import ... from 'ocimake'` gives what the README
// shows (startRegistry among it), and files under dist/ are not importable one by one. Run
// with plain Node, as a user's program resolves the package (dist/ is built by npm ci).

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const node = (code: string) => spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' });

describe('the package', () => {
  it('exports the library API by name, and nothing by path', () => {
    const r = node("const m = await import('ocimake'); console.log(['startRegistry', 'buildAndExport', 'build', 'pushImage', 'parseReference', 'OcimakeError', 'allowHeapGovernance'].map((n) => typeof m[n]).join(' '));");
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('function function function function function function function');
    const deep = node("await import('ocimake/dist/src/builder/build.js');");
    expect(deep.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('importing it leaves the V8 flags of the program alone', () => {
    const r = node("const v8 = await import('node:v8'); await import('ocimake'); const { heapRegime, largeTree } = await import('./dist/src/util/heap.js'); largeTree(); console.log(heapRegime().largeTree, typeof globalThis.gc);");
    expect(r.stdout.trim()).toBe('false undefined');
  });
});
