import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry/index.js';
import { main } from '../../src/cli/main.js';
import { captured } from '../helpers/capture.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 28: `ocimake registry htpasswd USER` writes the bcrypt line --htpasswd reads, for runners
// that have no htpasswd tool (apache2-utils).

async function withStdin<T>(text: string, f: () => Promise<T>): Promise<T> {
  const real = process.stdin;
  Object.defineProperty(process, 'stdin', { value: Readable.from([Buffer.from(text)]), configurable: true });
  try { return await f(); } finally { Object.defineProperty(process, 'stdin', { value: real, configurable: true }); }
}

describe('ocimake registry htpasswd', () => {
  it('adds and replaces a user in the file, and the registry lets that user in with that password only', async () => {
    const file = join(tempDir(), 'htpasswd');
    writeFileSync(file, 'other:{SHA}x\n');
    const add = await withStdin('first\n', () => captured(() => main(['registry', 'htpasswd', 'ci', '--password-stdin', '--file', file, '--cost', '4'])));
    expect(add.stderr).toContain(`added ci in ${file}`);
    const replaced = await withStdin('s3cret\n', () => captured(() => main(['registry', 'htpasswd', 'ci', '--password-stdin', '--file', file, '--cost', '4'])));
    expect(replaced.stderr).toContain('updated ci');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('other:{SHA}x');
    expect(lines[1]).toMatch(/^ci:\$2[aby]\$04\$/);
    const reg = await startRegistry({ auth: { htpasswd: file } });
    try {
      const as = (pw: string) => fetch(`${reg.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from(`ci:${pw}`).toString('base64')}` } }).then((r) => r.status);
      expect(await as('s3cret')).toBe(200);
      expect(await as('first')).toBe(401);
    } finally {
      await reg.close();
    }
  });

  it('prints the line without --file, and refuses a name with a colon or no password', async () => {
    const out = await withStdin('pw\n', () => captured(() => main(['registry', 'htpasswd', 'ci', '--password-stdin', '--cost', '4'])));
    expect(out.stdout).toMatch(/^ci:\$2[aby]\$04\$.{53}\n$/);
    const bad = await withStdin('pw\n', () => captured(() => main(['registry', 'htpasswd', 'a:b', '--password-stdin'])));
    expect(bad.stderr).toContain('"a:b" cannot be an htpasswd user name');
    const none = await withStdin('', () => captured(() => main(['registry', 'htpasswd', 'ci', '--password-stdin'])));
    expect(none.stderr).toContain('no password for ci');
  });
});
