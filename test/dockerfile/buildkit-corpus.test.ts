import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dumpNode, parseDockerfile } from '../../src/dockerfile/parse.js';
import { FIXTURES } from '../helpers/alpine-images.js';

// BuildKit's own parser corpus: every real-world Dockerfile must dump exactly as BuildKit
// dumps it, and every negative case must be refused.

const CORPUS = join(FIXTURES, 'buildkit-parser');

describe('BuildKit parser corpus', () => {
  it('is present in fixtures/', () => {
    expect(existsSync(CORPUS), `expected BuildKit's parser corpus at ${CORPUS} (fixtures/buildkit-parser, see fixtures/README.md)`).toBe(true);
  });
  const list = (dir: string) => (existsSync(join(CORPUS, dir)) ? readdirSync(join(CORPUS, dir)).sort() : []);

  it('has 33 positive cases and some negative ones', () => {
    expect(list('testfiles')).toHaveLength(33);
    expect(list('testfiles-negative').length).toBeGreaterThan(0);
  });

  for (const name of list('testfiles')) {
    it(`dumps ${name} as BuildKit does`, () => {
      const text = readFileSync(join(CORPUS, 'testfiles', name, 'Dockerfile'), 'utf8');
      const expected = readFileSync(join(CORPUS, 'testfiles', name, 'result'), 'utf8');
      const got = parseDockerfile(text).nodes.map((n) => `(${dumpNode(n)})`).join('\n');
      expect(`${got}\n`).toBe(expected);
    });
  }

  for (const name of list('testfiles-negative')) {
    it(`refuses ${name}`, () => {
      const text = readFileSync(join(CORPUS, 'testfiles-negative', name, 'Dockerfile'), 'utf8');
      expect(() => parseDockerfile(text, { file: `${name}/Dockerfile` })).toThrow(new RegExp(`^${name}/Dockerfile:\\d+: `));
    });
  }
});
