/**
 * Applies a chmod mode to `cur`: octal (`755`, `2755`) or symbolic (`u+x,go-w`, `a=rX`,
 * `+x`), as busybox's bb_parse_mode does. Without a who, `+`/`-`/`=` apply to all, less umask.
 * Undefined when `spec` is not a mode. (RUN's chmod and install, and COPY --chmod.)
 */
export function modeOf(spec: string, cur: number, isDir: boolean, umask: number): number | undefined {
  if (/^[0-7]{1,4}$/.test(spec)) {
    const v = parseInt(spec, 8);
    // Directories keep setuid/setgid when the octal mode has fewer than 4 digits (coreutils and busybox agree).
    return isDir && spec.length < 4 ? (v | (cur & 0o6000)) : v;
  }
  let mode = cur & 0o7777;
  for (const clause of spec.split(',')) {
    const m = /^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$/.exec(clause);
    if (!m) return undefined;
    let who = 0;
    for (const c of m[1]!) who |= c === 'u' ? 0o4700 : c === 'g' ? 0o2070 : c === 'o' ? 0o1007 : 0o7777;
    const masked = who === 0;
    if (masked) who = 0o7777 & ~umask;
    for (const [, op, perms] of m[2]!.matchAll(/([-+=])([rwxXstugo]*)/g)) {
      let bits = 0;
      for (const p of perms!) {
        if (p === 'r') bits |= 0o444;
        else if (p === 'w') bits |= 0o222;
        else if (p === 'x') bits |= 0o111;
        else if (p === 'X') { if (isDir || (mode & 0o111) !== 0) bits |= 0o111; }
        else if (p === 's') bits |= 0o6000;
        else if (p === 't') bits |= 0o1000;
        else {
          const src = p === 'u' ? (mode >> 6) & 7 : p === 'g' ? (mode >> 3) & 7 : mode & 7;
          bits |= src * 0o111;
        }
      }
      bits &= who;
      if (op === '+') mode |= bits;
      else if (op === '-') mode &= ~bits;
      else mode = (mode & ~(masked ? 0o7777 : who)) | bits;
    }
  }
  return mode;
}
