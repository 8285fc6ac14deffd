import { BUILTINS } from './builtins.js';
import type { ShellState } from './state.js';
import { typeOf, walk, type ShNode } from './syntax.js';

// What a script needs before it runs: the first command it would have to execute.

/** Where a command name is looked up: the shell's builtins, then native commands (by name or by a bin/ path). */
export function commandName(name: string): string {
  const m = /^\/(?:usr\/)?(?:local\/)?s?bin\/([^/]+)$/.exec(name);
  return m ? m[1]! : name;
}

/**
 * Finds, before anything runs, the first command a script would have to execute: a literal
 * command name that is neither a builtin, a native command nor a function the script defines.
 */
export function firstForeignCommand(file: ShNode, sh: Pick<ShellState, 'commands'>): string | undefined {
  const functions = new Set<string>();
  let sources = false;
  walk(file, (n) => {
    if (typeOf(n) === 'FuncDecl') functions.add(n.Name.Value);
    if (typeOf(n) === 'CallExpr' && n.Args.length > 0 && n.Args[0].Parts.length === 1 && ['.', 'source'].includes(n.Args[0].Parts[0].Value)) sources = true;
  });
  // A sourced file may define functions of any name: what it leaves undefined is found when it runs.
  if (sources) return undefined;
  let found: string | undefined;
  walk(file, (n) => {
    if (found !== undefined || typeOf(n) !== 'CallExpr' || n.Args.length === 0) return;
    const w = n.Args[0];
    if (w.Parts.length !== 1 || typeOf(w.Parts[0]) !== 'Lit') return;
    const name: string = w.Parts[0].Value;
    const c = commandName(name);
    if (!BUILTINS.has(c) && !sh.commands.has(c) && !functions.has(name)) found = name;
  });
  return found;
}

