import sh from 'mvdan-sh';
import { describe, expect, it } from 'vitest';
import { parseSimple } from '../../src/run/shell/simple-parse.js';
import type { ShNode } from '../../src/run/shell/syntax.js';

// parseSimple answers plain scripts without loading mvdan-sh. Where it answers, its tree must be
// the one mvdan-sh gives; this compares the two on generated scripts.

const syntax = sh.syntax;
const mvdan = (text: string): ShNode => syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(text, 't');

/** The parts of a tree the interpreter reads. */
function shape(n: ShNode): unknown {
  if (Array.isArray(n)) return n.map(shape);
  const t: string = n.__t ?? syntax.NodeType(n);
  switch (t) {
    case 'File': return { t, stmts: shape(n.Stmts) };
    case 'Stmt': return { t, cmd: shape(n.Cmd), redirs: n.Redirs.length, neg: n.Negated, bg: n.Background, co: n.Coprocess };
    case 'BinaryCmd': return { t, op: n.Op, x: shape(n.X), y: shape(n.Y) };
    case 'CallExpr': return { t, assigns: n.Assigns.length, args: shape(n.Args) };
    case 'Word': return { t, parts: shape(n.Parts) };
    case 'Lit': return { t, v: n.Value };
    default: return { t };
  }
}

/** A small deterministic generator (no clock, no Math.random: a failure replays). */
function rng(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31; };
}

const pieces = ['apk', 'add', '-U', 'tzdata', 'ln', '-sf', '/usr/share/zoneinfo/Asia/Shanghai', '/etc/localtime', '--prefix=/usr', 'a=b', 'x', '-', '--',
  ':', '@1', '%d', '1,2', '+x', 'if', 'then', 'fi', 'for', 'in', 'do', 'done', 'export', 'local', 'let', 'time', 'function', 'declare', '!', 'true',
  '&&', '||', ';', '&', '|', '$x', '"q"', "'s'", '*', '~/x', '#c', '{a,b}', '>f', '(', ')', '\\n', '\n', 'a\\b', '[', ']', 'case', 'esac', 'coproc', 'select'];

describe('parseSimple', () => {
  it('parses the plain RUN lines of the seeds and of real Dockerfiles as mvdan-sh does', () => {
    for (const text of ['apk add -U tzdata', 'ln -sf /usr/share/zoneinfo/Asia/Shanghai  /etc/localtime', 'mkdir -p /a && chmod 755 /a || true', 'a; b;', 'a&&b||c', 'make -j4 install']) {
      const mine = parseSimple(text);
      expect(mine, text).toBeDefined();
      expect(shape(mine), text).toEqual(shape(mvdan(text)));
    }
  });

  it('leaves everything else to mvdan-sh: quotes, expansions, globs, redirections, keywords, assignments', () => {
    for (const text of ['echo "x"', "echo 'x'", 'echo $HOME', 'rm -rf /var/cache/*', 'cd ~', 'a > f', 'a | b', 'a &', 'if true; then :; fi', 'export A=1', 'A=1 make',
      'local x', 'let x=1', 'time make', '! true', 'a\nb', 'echo a#b', 'echo {a,b}', '; a', 'a;;', 'a &&', '', '   ', 'a \\\n b', 'f() { :; }']) {
      expect(parseSimple(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it('agrees with mvdan-sh on 5,000 generated scripts', () => {
    const next = rng(27);
    let answered = 0;
    for (let n = 0; n < 5000; n++) {
      const len = 1 + Math.floor(next() * 8);
      let text = '';
      for (let k = 0; k < len; k++) text += pieces[Math.floor(next() * pieces.length)]! + [' ', '  ', '\t', ''][Math.floor(next() * 4)];
      const mine = parseSimple(text);
      if (!mine) continue;
      answered++;
      expect(shape(mine), JSON.stringify(text)).toEqual(shape(mvdan(text)));
    }
    expect(answered).toBeGreaterThan(200);
  });
});
