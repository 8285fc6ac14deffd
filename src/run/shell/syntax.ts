import type { ShNode } from 'mvdan-sh';
import { OcimakeError } from '../../errors.js';
import { parseSimple, walkSimple } from './simple-parse.js';

export type { ShNode };

export { ARITH, OP } from './syntax-ops.js';

let syntax: typeof import('mvdan-sh').default.syntax | undefined;

async function load(): Promise<typeof import('mvdan-sh').default.syntax> {
  // Loaded on the first RUN only: most builds never need a shell parser.
  syntax ??= (await import('mvdan-sh')).default.syntax;
  return syntax;
}

/** The node's type name ("CallExpr", "Lit", ...). */
export function typeOf(n: ShNode): string {
  return n?.__t ?? syntax!.NodeType(n);
}

/** Parses shell text (busybox ash accepts a superset of POSIX sh; bash syntax is parsed, then refused where it is not interpreted). */
export async function parseShell(text: string, where: string): Promise<ShNode> {
  const simple = parseSimple(text);
  if (simple) return simple;
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
  if (n.__t) return walkSimple(n, f);
  syntax!.Walk(n, (x: ShNode) => { if (x) f(x); return true; });
}
