import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { main } from '../../src/cli/main.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 28: error codes are a closed, documented set (the type of OcimakeError.code is
// ERROR_CODES' keys), with a structured location, shown to CI tools in --progress=rawjson and
// --metadata-file. docs/ERRORS.md is made from the table (OCIMAKE_DOCS_UPDATE=1 writes it).

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function errorsDoc(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, what]) => `| \`${code}\` | ${what.replace(/\|/g, '\\|')} |`);
  return `# Error codes\n\nEvery error ocimake reports has one of these codes (\`OcimakeError.code\`; \`"code"\` in the\n\`{"error": …}\` line of \`--progress=rawjson\` and in \`--metadata-file\`), with a \`location\` where it\nhas one: \`{"file", "line"}\` in the Dockerfile, or \`{"reference"}\` of an image. Codes are stable;\ntheir words may change. Made from \`ERROR_CODES\` in src/errors.ts.\n\n| code | what it means |\n|---|---|\n${rows.join('\n')}\n`;
}

describe('error codes', () => {
  it('docs/ERRORS.md lists every code, as the table says', () => {
    const path = join(ROOT, 'docs', 'ERRORS.md');
    if (process.env.OCIMAKE_DOCS_UPDATE === '1') writeFileSync(path, errorsDoc());
    expect(readFileSync(path, 'utf8')).toBe(errorsDoc());
  });

  it('a failed build tells CI tools the code and the place: a rawjson line and the metadata file', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM scratch\nCOPY --chmod=u+q a /a\n', a: 'a' });
    const meta = join(tempDir(), 'meta.json');
    const r = await captured(() => main(['build', ctx, '--progress=rawjson', '--metadata-file', meta, '--cache-dir', join(tempDir(), 'cache')]));
    expect(r.value).toBe(1);
    const line = r.stderr.split('\n').find((l) => l.startsWith('{"error"'))!;
    const want = { code: 'CHMOD_INVALID', location: { file: 'Dockerfile', line: 2 } };
    expect(JSON.parse(line).error).toMatchObject(want);
    expect(JSON.parse(readFileSync(meta, 'utf8')).error).toMatchObject({ ...want, message: expect.stringContaining('invalid --chmod value "u+q"') });
  });

  it('a registry error keeps the spec\'s code and names the image', async () => {
    const { startRegistry } = await import('../../registry/index.js');
    const reg = await startRegistry();
    try {
      const ctx = writeTree(tempDir(), { Dockerfile: `FROM ${reg.host}/no/such:1\n` });
      const meta = join(tempDir(), 'meta.json');
      await captured(() => main(['build', ctx, '--progress=quiet', '--metadata-file', meta, '--cache-dir', join(tempDir(), 'cache')]));
      expect(JSON.parse(readFileSync(meta, 'utf8')).error).toMatchObject({ code: 'MANIFEST_UNKNOWN', location: { reference: `${reg.host}/no/such:1` } });
    } finally {
      await reg.close();
    }
  });
});
