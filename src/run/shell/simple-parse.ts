import type { ShNode } from 'mvdan-sh';
import { OP } from './syntax-ops.js';

// The shell parser (mvdan-sh) is a 3 MB GopherJS bundle that takes ~90 ms to load and start:
// a third of a small RUN's build. Most RUN lines are plain commands (`apk add -U tzdata`,
// `ln -sf A B && chmod 755 C`), whose syntax tree is fixed by their words alone. This parses
// exactly those, into nodes of the same shape mvdan-sh gives (test/run/simple-parse.test.ts
// compares the two on generated scripts), and answers undefined for anything else: quotes,
// expansions, globs, redirections, keywords, assignments, newlines. Those go to mvdan-sh.

/** Characters of a word that no shell rule touches: no quoting, expansion, glob, brace or tilde. */
const WORD_CHAR = /[A-Za-z0-9_./:@%+,=-]/;

/**
 * Words that are not plain commands at a command's start: keywords, and the builtins mvdan-sh
 * parses as their own clauses (declare and its kin, let, time, coproc, function).
 */
const NOT_PLAIN = new Set(['!', 'case', 'coproc', 'do', 'done', 'elif', 'else', 'esac', 'fi', 'for', 'function', 'if', 'in', 'select', 'then', 'time', 'until', 'while', 'declare', 'local', 'export', 'readonly', 'typeset', 'nameref', 'let']);

type Token = { word: string } | { op: 'and' | 'or' | 'semi' };

function tokens(text: string): Token[] | undefined {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') { i++; continue; }
    if (c === ';') { out.push({ op: 'semi' }); i++; continue; }
    if ((c === '&' || c === '|') && text[i + 1] === c) { out.push({ op: c === '&' ? 'and' : 'or' }); i += 2; continue; }
    let j = i;
    while (j < text.length && WORD_CHAR.test(text[j]!)) j++;
    if (j === i) return undefined; // any other character: not a plain script
    out.push({ word: text.slice(i, j) });
    i = j;
  }
  return out;
}

const lit = (value: string): ShNode => ({ __t: 'Lit', Value: value });
const word = (value: string): ShNode => ({ __t: 'Word', Parts: [lit(value)] });
const stmt = (cmd: ShNode): ShNode => ({ __t: 'Stmt', Cmd: cmd, Redirs: [], Negated: false, Background: false, Coprocess: false });

/**
 * The syntax tree of a script of plain commands joined by `&&`, `||` and `;`, in mvdan-sh's
 * shape (left-associative and/or lists), or undefined when the script is anything more.
 */
export function parseSimple(text: string): ShNode | undefined {
  const toks = tokens(text);
  if (!toks || toks.length === 0) return undefined;
  const stmts: ShNode[] = [];
  let i = 0;
  const command = (): ShNode | undefined => {
    const args: ShNode[] = [];
    for (; i < toks.length && 'word' in toks[i]!; i++) args.push(word((toks[i] as { word: string }).word));
    if (args.length === 0) return undefined;
    const name: string = args[0].Parts[0].Value;
    // NAME=value is an assignment, and a keyword or declaration builtin is its own clause.
    if (name.includes('=') || NOT_PLAIN.has(name)) return undefined;
    return stmt({ __t: 'CallExpr', Assigns: [], Args: args });
  };
  while (i < toks.length) {
    let left = command();
    if (!left) return undefined;
    for (;;) {
      const t = toks[i];
      if (!t || !('op' in t) || t.op === 'semi') break;
      i++;
      const right = command();
      if (!right) return undefined;
      left = stmt({ __t: 'BinaryCmd', Op: t.op === 'and' ? OP.and : OP.or, X: left, Y: right });
    }
    stmts.push(left);
    if (i < toks.length) i++; // the ';'
  }
  return { __t: 'File', Stmts: stmts };
}

/** Calls `f` on `n` and every node below it, for trees parseSimple made. */
export function walkSimple(n: ShNode, f: (n: ShNode) => void): void {
  f(n);
  switch (n.__t) {
    case 'File': for (const s of n.Stmts) walkSimple(s, f); break;
    case 'Stmt': walkSimple(n.Cmd, f); break;
    case 'BinaryCmd': walkSimple(n.X, f); walkSimple(n.Y, f); break;
    case 'CallExpr': for (const a of n.Args) walkSimple(a, f); break;
    case 'Word': for (const p of n.Parts) walkSimple(p, f); break;
  }
}
