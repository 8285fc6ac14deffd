import { OcimakeError } from '../errors.js';

/** A command failed the way the real one would (it prints the message and exits non-zero); the shell decides what follows. */
export class RunError extends Error {
  constructor(message: string, readonly status = 1) {
    super(message);
    this.name = 'RunError';
  }
}

/** What RUN can do without executing anything: named in every "would execute" error. */
export const NATIVE_SUMMARY =
  'RUN runs natively: apk add/del/update, wget and curl (plain GETs), sha256sum -c, head/tail/sort/uniq/wc/cut/tr, tar -x of plain or gzip archives, unzip, gunzip, install, ls, uname, xargs, id, whoami, env, mktemp, find (-name, -type, -delete, -exec), and shell file commands (ln, mkdir, rm, cp, mv, chmod, chown, touch, echo, printf, cat, tee, sed -i, test, adduser, addgroup, update-ca-certificates)';

/** A RUN that would have to execute a program: refused before any layer is written. */
export function wouldExecute(what: string, detail?: string): OcimakeError {
  return new OcimakeError('RUN_UNSUPPORTED', `RUN would execute "${what}" (not available without a container runtime)${detail ? `: ${detail}` : ''}`, {
    hint: `${NATIVE_SUMMARY}. Build the artifact before ocimake and COPY it in, or COPY --from an image that has it`,
  });
}
