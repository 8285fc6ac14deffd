import { OcimakeError } from '../errors.js';
import { commandSummary } from './commands/table.js';

/** A command failed the way the real one would (it prints the message and exits non-zero); the shell decides what follows. */
export class RunError extends Error {
  constructor(message: string, readonly status = 1) {
    super(message);
    this.name = 'RunError';
  }
}

/** A RUN that would have to execute a program: refused before any layer is written. */
export function wouldExecute(what: string, detail?: string): OcimakeError {
  return new OcimakeError('RUN_UNSUPPORTED', `RUN would execute "${what}" (not available without a container runtime)${detail ? `: ${detail}` : ''}`, {
    hint: `RUN runs natively (${commandSummary()}). Other programs are executed where a sandbox works (--isolation auto); or build the artifact before ocimake and COPY it in, or COPY --from an image that has it`,
  });
}
