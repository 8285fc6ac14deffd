// `npm run demo`: the main job, offline. Starts the embedded registry on 127.0.0.1, builds
// the multi-stage examples/hello with ocimake, pushes it there, then inspects it and
// extracts files from it, printing what it did. Needs only Node (run after `npm ci`, which compiles dist/).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry } from '../dist/registry/index.js';
import { buildAndExport, BlobStore, hostPlatform } from '../dist/src/index.js';
import { inspectImage } from '../dist/src/source/inspect.js';
import { openImage } from '../dist/src/source/open.js';
import { MergedFs } from '../dist/src/image/merged-fs.js';
import { extractPaths } from '../dist/src/source/extract.js';
import { Remote } from '../dist/src/remote/registry-image.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'ocimake-demo-'));
const registry = await startRegistry();
try {
  const tag = `${registry.host}/demo/hello:1.0`;
  console.log(`embedded registry listening at ${registry.url}`);
  const result = await buildAndExport({
    context: join(root, 'examples', 'hello'),
    tags: [tag],
    push: true,
    cacheDir: join(work, 'cache'),
    onProgress: (e) => e.kind === 'step' && console.log(`  [${e.stage.name ?? e.stage.index}] ${e.inst.original.split('\n')[0]}`),
    onPush: (e) => e.kind !== 'manifest' && console.log(`  push ${e.kind} ${e.digest.slice(0, 19)}`),
  });
  console.log(`built and pushed ${tag}\n  digest ${result.digest}`);

  // Pull it back the way a user would: inspect, then extract files without a daemon.
  const ctx = { remote: new Remote({}), platform: hostPlatform(), store: new BlobStore(join(work, 'pulled')) };
  const info = await inspectImage(tag, ctx);
  console.log(`ocimake inspect ${tag}`);
  console.log(`  digest ${info.digest} ${info.digest === result.digest ? '(matches the build)' : '(DIGEST MISMATCH)'}`);
  console.log(`  platform ${info.platforms.join(', ')}; layers: ${info.layers.map((l) => `${l.digest.slice(7, 19)} ${l.size}B`).join(', ')}`);
  console.log(`  labels: ${JSON.stringify(info.config.config.Labels)}`);
  const opened = await openImage(tag, ctx);
  const out = join(work, 'extracted');
  const mfs = new MergedFs(opened.image, opened.what);
  const r = await extractPaths(mfs, ['/srv/www'], out, join(work, 'scratch'), opened.what);
  console.log(`ocimake extract ${tag} /srv/www -o <dir>: ${r.files} files`);
  for (const f of ['index.html', 'version.txt']) console.log(`  /srv/www/${f}: ${readFileSync(join(out, 'srv/www', f), 'utf8').trim()}`);
  if (info.digest !== result.digest) process.exitCode = 1;
} finally {
  await registry.close();
  rmSync(work, { recursive: true, force: true });
}
