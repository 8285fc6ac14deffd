import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAndExport } from '../../src/builder/export.js';
import { alpineLayout } from '../helpers/alpine-images.js';
import { serveStatic } from '../helpers/apk-repo.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { KeyedLock } from '../../src/util/keyed-lock.js';

// Issue 25: a step that is the same in two stages (the same key, computed before it runs) runs
// once. Stages run concurrently; without a lock both missed the cache and both ran.

let base: string;
let www: Awaited<ReturnType<typeof serveStatic>>;
beforeAll(async () => {
  base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`;
  const root = tempDir();
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'data.txt'), 'data\n');
  www = await serveStatic(root);
});
afterAll(async () => { await www?.close(); });

describe('the same step in two stages', () => {
  it('runs once: the second stage waits for the first and answers from its record', async () => {
    const run = `RUN wget -q -O /data.txt ${www.url}/data.txt`;
    const ctx = writeTree(join(tempDir(), 'ctx'), {
      Dockerfile: `FROM ${base} AS a\n${run}\nFROM ${base} AS b\n${run}\nFROM scratch\nCOPY --from=a /data.txt /a.txt\nCOPY --from=b /data.txt /b.txt\n`,
    });
    const done: string[] = [];
    await buildAndExport({ context: ctx, cacheDir: join(tempDir(), 'cache'), isolation: 'native', onProgress: (e) => { if (e.kind === 'step-done' && e.stage.index < 2) done.push(e.cached ? 'cached' : 'ran'); } });
    expect(www.requests.get('/data.txt')).toBe(1);
    expect(done.sort()).toEqual(['cached', 'ran']);
  });

  it('KeyedLock: one holder per key, the others in turn; other keys do not wait', async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const r1 = await lock.acquire('k');
    const second = lock.acquire('k').then((r) => { order.push('second'); return r; });
    const other = await lock.acquire('other');
    order.push('other');
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['other']);
    r1();
    (await second)();
    other();
    expect(order).toEqual(['other', 'second']);
    (await lock.acquire('k'))();
  });
});
