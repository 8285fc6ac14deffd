/**
 * The one error base of ocimake. `code` is a stable string (registry codes keep the
 * distribution spec's names), `hint` is a one-line suggestion for the user, `cause` chains.
 */
export class OcimakeError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OcimakeError';
    this.code = code;
    this.hint = opts.hint;
  }
}

/** Wraps any error with context ("pushing x: ..."), keeping the code and hint of an OcimakeError. */
export function withContext(context: string, err: unknown): OcimakeError {
  if (err instanceof OcimakeError) {
    return new OcimakeError(err.code, `${context}: ${err.message}`, { hint: err.hint, cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new OcimakeError('INTERNAL', `${context}: ${msg}`, { cause: err });
}
