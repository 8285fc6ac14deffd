// The one table of what a native RUN can do: every native command and shell builtin, by group.
// The dispatcher's map (index.ts, plus the four the build supplies), the "RUN would execute"
// hint and the README's list are all checked against or made from it
// (test/run/command-table.test.ts, which with OCIMAKE_README_UPDATE=1 writes the README block).

export interface CommandGroup { group: string; names: readonly string[] }

/** The commands the build supplies (they need its network, platform or apk options), by name. */
export const BUILD_COMMAND_NAMES = ['wget', 'curl', 'uname', 'apk'] as const;

export const COMMAND_TABLE: readonly CommandGroup[] = [
  { group: 'packages', names: ['apk', 'update-ca-certificates'] },
  { group: 'fetch and check', names: ['wget', 'curl', 'md5sum', 'sha1sum', 'sha256sum', 'sha512sum', 'base64'] },
  { group: 'archives', names: ['tar', 'unzip', 'gunzip', 'gzip', 'zcat'] },
  { group: 'files', names: ['ln', 'mkdir', 'rm', 'rmdir', 'unlink', 'touch', 'cp', 'mv', 'install', 'chmod', 'chown', 'chgrp', 'ls', 'find', 'readlink', 'realpath', 'stat', 'mktemp'] },
  { group: 'text', names: ['echo', 'printf', 'cat', 'tee', 'sed', 'awk', 'grep', 'egrep', 'fgrep', 'head', 'tail', 'sort', 'uniq', 'wc', 'cut', 'tr', 'basename', 'dirname', 'seq', 'expr', 'test', '['] },
  { group: 'users', names: ['adduser', 'addgroup', 'useradd', 'groupadd', 'deluser', 'delgroup', 'id', 'whoami'] },
  { group: 'system', names: ['uname', 'date', 'nproc', 'getconf', 'env', 'printenv', 'which', 'xargs', 'sleep'] },
  { group: 'shell builtins', names: [':', 'true', 'false', 'cd', 'pwd', 'set', 'shift', 'unset', 'export', 'readonly', 'local', 'umask', 'eval', 'exit', 'return', 'break', 'continue', 'read', '.', 'source', 'command', 'exec', 'trap', 'wait', 'sh', 'ash', 'bash'] },
];

/** Every name in the table. */
export function tableNames(): string[] {
  return COMMAND_TABLE.flatMap((g) => [...new Set(g.names)]).filter((n, i, all) => all.indexOf(n) === i);
}

/** One line per group, for the hint and the README. */
export function commandSummary(): string {
  return COMMAND_TABLE.map((g) => `${g.group}: ${g.names.join(', ')}`).join('; ');
}
