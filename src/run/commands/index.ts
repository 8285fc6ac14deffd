import type { Command } from '../shell/state.js';
import { FILE_COMMANDS } from './files.js';
import { sed } from './sed.js';
import { TEST_COMMANDS } from './test.js';
import { TEXT_COMMANDS } from './text.js';
import { USER_COMMANDS } from './users.js';
import { SUM_COMMANDS } from './sums.js';
import { tarCommand } from './tar.js';
import { unzipCommand } from './unzip.js';
import { findCommand } from './find.js';
import { FILTER_COMMANDS } from './filters.js';
import { INSTALL_COMMANDS } from './install.js';
import { GZIP_COMMANDS } from './gzip.js';
import { lsCommand } from './ls.js';
import { xargsCommand } from './system.js';
import { IDENTITY_COMMANDS } from './identity.js';
import { updateCaCertificatesCommand } from './certs.js';
import { MISC_COMMANDS } from './misc.js';
import { awkCommand } from './awk/index.js';
import { dateCommand } from './date.js';
import { statCommand } from './stat.js';

/** What the native commands need from the build (apk's repositories, keys and options). */
export interface NativeOptions {
  /** Extra native commands (apk, wget, curl, uname: they need the build's network or platform), by name. */
  extra?: ReadonlyMap<string, Command>;
}

/** Every command RUN can do natively, by name. */
export function nativeCommands(opts: NativeOptions): Map<string, Command> {
  return new Map<string, Command>([
    ...FILE_COMMANDS, ...TEXT_COMMANDS, ...TEST_COMMANDS, ...USER_COMMANDS, ...SUM_COMMANDS, ...FILTER_COMMANDS, ...INSTALL_COMMANDS, ...GZIP_COMMANDS, ['ls', lsCommand], ['xargs', xargsCommand], ...IDENTITY_COMMANDS, ...MISC_COMMANDS, ['awk', awkCommand], ['date', dateCommand], ['stat', statCommand], ['tar', tarCommand], ['unzip', unzipCommand], ['find', findCommand], ['sed', sed], ['update-ca-certificates', updateCaCertificatesCommand],
    ...(opts.extra ?? new Map()),
  ]);
}
