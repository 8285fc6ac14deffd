import type { ShNode } from 'mvdan-sh';
import { OcimakeError } from '../../errors.js';

export type { ShNode };

// Token numbers of mvdan.cc/sh/v3 (syntax/tokens.go), as its GopherJS build reports them.
// test/run/shell.test.ts parses each operator and checks these values.
export const OP = {
  and: 10, or: 11, pipe: 12, pipeAll: 13,
  rdrOut: 54, appOut: 55, rdrIn: 56, rdrInOut: 57, dplIn: 58, dplOut: 59, clbOut: 60, hdoc: 61, dashHdoc: 62, wordHdoc: 63, rdrAll: 64, appAll: 65,
  // parameter expansion
  alternate: 68, alternateColon: 69, default: 70, defaultColon: 71, error: 72, errorColon: 73, assign: 74, assignColon: 75,
  remSmallSuffix: 76, remLargeSuffix: 77, remSmallPrefix: 78, remLargePrefix: 79,
} as const;

// Arithmetic operators (the same token space).
export const ARITH: Record<number, string> = { 68: '+', 70: '-', 38: '*', 85: '/', 76: '%', 40: '==', 41: '!=', 56: '<', 54: '>', 42: '<=', 43: '>=', 10: '&&', 11: '||' };

let syntax: typeof import('mvdan-sh').default.syntax | undefined;

async function load(): Promise<typeof import('mvdan-sh').default.syntax> {
  // Loaded on the first RUN only: most builds never need a shell parser.
  syntax ??= (await import('mvdan-sh')).default.syntax;
  return syntax;
}

/** The node's type name ("CallExpr", "Lit", ...). */
export function typeOf(n: ShNode): string {
  return syntax!.NodeType(n);
}

/** Parses shell text (busybox ash accepts a superset of POSIX sh; bash syntax is parsed, then refused where it is not interpreted). */
export async function parseShell(text: string, where: string): Promise<ShNode> {
  const s = await load();
  try {
    return s.NewParser(s.Variant(s.LangBash)).Parse(text, where);
  } catch (err) {
    const msg = (err as { Error?: () => string }).Error?.() ?? String(err);
    if (err instanceof RangeError || /Maximum call stack size exceeded/.test(msg)) {
      throw new OcimakeError('RUN_SYNTAX', 'the shell command nests too deeply to parse ($(…), if, loops or subshells hundreds of levels deep)', { hint: 'flatten the command: put the inner parts in variables or separate RUN lines' });
    }
    throw new OcimakeError('RUN_SYNTAX', `shell syntax error: ${msg.replace(/^[^:]*:/, 'line ')}`, { hint: 'the RUN command is not valid /bin/sh syntax; check its quotes and continuations' });
  }
}

/** Calls `f` on every node below `n`. */
export function walk(n: ShNode, f: (n: ShNode) => void): void {
  syntax!.Walk(n, (x: ShNode) => { if (x) f(x); return true; });
}
