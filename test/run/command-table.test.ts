import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nativeCommands } from '../../src/run/commands/index.js';
import { BUILD_COMMAND_NAMES, COMMAND_TABLE, tableNames } from '../../src/run/commands/table.js';
import { wouldExecute } from '../../src/run/errors.js';
import { BUILTINS } from '../../src/run/shell/builtins.js';

// Issue 27 §2: one table of what a native RUN can do. The dispatcher, the "would execute" hint
// and the README's list must all say the same: a command added to one and not the others fails here.

const README = new URL('../../README.md', import.meta.url);
const DECLARATIONS = ['export', 'readonly', 'local']; // the shell's DeclClause, not a builtin function

function readmeBlock(): string {
  return COMMAND_TABLE.map((g) => `- ${g.group}: ${g.names.map((n) => `\`${n}\``).join(', ')}`).join('\n');
}

describe('the native command table', () => {
  it('names exactly what the interpreter dispatches', () => {
    const dispatched = new Set([...nativeCommands({}).keys(), ...BUILD_COMMAND_NAMES, ...BUILTINS.keys(), ...DECLARATIONS]);
    expect([...dispatched].sort()).toEqual([...tableNames()].sort());
  });

  it('is what the "RUN would execute" hint lists', () => {
    const hint = wouldExecute('go').hint!;
    for (const n of tableNames()) expect(hint).toContain(n);
  });

  it('is the README\'s list (OCIMAKE_README_UPDATE=1 writes it)', () => {
    const text = readFileSync(README, 'utf8');
    const re = /(<!-- native-commands:start -->\n)[\s\S]*?(<!-- native-commands:end -->)/;
    expect(text).toMatch(re);
    const want = text.replace(re, `$1${readmeBlock()}\n$2`);
    if (process.env.OCIMAKE_README_UPDATE === '1') writeFileSync(README, want);
    expect(readFileSync(README, 'utf8')).toBe(want);
  });
});
