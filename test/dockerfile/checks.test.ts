import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { checkDockerfile, ruleUrl } from '../../src/dockerfile/checks.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 14: --call=check lints the Dockerfile as BuildKit's build checks do, and builds nothing.

const rules = (text: string) => checkDockerfile(text).map((w) => `${w.line} ${w.rule}`);

describe('Dockerfile checks', () => {
  it('finds what BuildKit\'s checks find, with their rule names', () => {
    expect(rules('FROM golang:${GO} as Builder\nenv API_TOKEN=x\nENV LEGACY value\nWORKDIR app\nCMD echo hi\nCMD ["x"]\nMAINTAINER me\n')).toEqual([
      '1 FromAsCasing', '1 StageNameCasing', '1 UndefinedArgInFrom', '2 ConsistentInstructionCasing', '2 SecretsUsedInArgOrEnv',
      '3 LegacyKeyValueFormat', '4 WorkdirRelativePath', '5 JSONArgsRecommended', '6 MultipleInstructionsDisallowed', '7 MaintainerDeprecated',
    ]);
    expect(rules('FROM --platform=linux/amd64 alpine AS scratch\nFROM --platform=$TARGETPLATFORM alpine\nRUN a \\\n\n  b\n')).toEqual([
      '1 ReservedStageName', '1 FromPlatformFlagConstDisallowed', '2 RedundantTargetPlatform', '3 NoEmptyContinuation',
    ]);
  });

  it('stays quiet on a clean Dockerfile, on ARGs declared before FROM, on public keys, and on skipped rules', () => {
    expect(rules('ARG VERSION=3.20\nFROM alpine:${VERSION} AS base\nARG PUBLIC_KEY\nWORKDIR /app\nWORKDIR sub\nCMD ["x"]\nFROM base\nCMD ["y"]\n')).toEqual([]);
    expect(rules('# check=skip=JSONArgsRecommended,MaintainerDeprecated\nFROM alpine\nMAINTAINER me\nCMD x\n')).toEqual([]);
    expect(rules('# check=skip=all\nfrom alpine\nCMD x\n')).toEqual([]);
  });

  it('links each rule as BuildKit does', () => {
    expect(ruleUrl('JSONArgsRecommended')).toBe('https://docs.docker.com/go/dockerfile/rule/json-args-recommended/');
    expect(ruleUrl('FromAsCasing')).toBe('https://docs.docker.com/go/dockerfile/rule/from-as-casing/');
  });

  it('--call=check prints the warnings with the lines around them, exits 1, and pulls nothing', async () => {
    const ctx = writeTree(tempDir(), { Dockerfile: 'FROM 127.0.0.1:1/never/pulled:1 as Base\nCMD run\n' });
    const r = await captured(() => main(['build', ctx, '--call=check']));
    expect(r.value).toBe(1);
    expect(r.stdout).toContain('Check complete, 3 warnings have been found!');
    expect(r.stdout).toContain('WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\nJSON arguments recommended for CMD to prevent unintended behavior related to OS signals\nDockerfile:2\n--------------------\n   1 |     FROM 127.0.0.1:1/never/pulled:1 as Base\n   2 | >>> CMD run\n--------------------');
    expect(r.stderr).toBe('');
    const clean = writeTree(tempDir(), { 'Dockerfile.prod': 'FROM scratch\nCMD ["/app"]\n' });
    const ok = await captured(() => main(['build', clean, '--check', '-f', join(clean, 'Dockerfile.prod')]));
    expect(ok.value).toBe(0);
    expect(ok.stdout).toBe('Check complete, no warnings found.\n');
    expect((await captured(() => main(['build', clean, '--call=outline']))).stderr).toMatch(/--call=outline is not supported/);
  });
});
