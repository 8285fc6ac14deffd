// A command that succeeds but must exit non-zero (--call=check with warnings) says so here;
// `main` returns it. Not process.exitCode, which would leak out of an embedded `main`.
let code = 0;

export function setExitCode(n: number): void { code = n; }

/** Returns the code set by the last command, and resets it. */
export function takeExitCode(): number {
  const n = code;
  code = 0;
  return n;
}
