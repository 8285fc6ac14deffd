// `npm run demo`: the main job, offline. Starts the embedded registry on 127.0.0.1, builds
// examples/hello with ocimake, pushes it there, pulls the manifest and config back and
// prints what it did. Needs only Node (run after `npm ci`, which compiles dist/).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry } from '../dist/registry/index.js';
import { buildAndExport, RegistryClient, parseReference } from '../dist/src/index.js';
import { fetchManifest, fetchBlob } from '../dist/src/remote/pull.js';
import { BlobStore } from '../dist/src/layout/blob-store.js';

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

  const ref = parseReference(tag);
  const client = new RegistryClient(ref.registry);
  const manifest = await fetchManifest(client, ref);
  const parsed = JSON.parse(manifest.bytes.toString('utf8'));
  const store = new BlobStore(join(work, 'pulled'));
  await fetchBlob(client, ref.repository, parsed.config, store);
  const config = JSON.parse((await store.readBytes(parsed.config.digest)).toString('utf8'));
  console.log(`pulled back ${manifest.digest === result.digest ? '(digest matches)' : '(DIGEST MISMATCH)'}`);
  console.log(`  layers: ${parsed.layers.map((l) => `${l.digest.slice(7, 19)} ${l.size}B`).join(', ')}`);
  console.log(`  labels: ${JSON.stringify(config.config.Labels)}`);
  console.log(`  workdir ${config.config.WorkingDir}, ports ${Object.keys(config.config.ExposedPorts ?? {}).join(' ')}`);
  if (manifest.digest !== result.digest) process.exitCode = 1;
} finally {
  await registry.close();
  rmSync(work, { recursive: true, force: true });
}
