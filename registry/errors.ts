// Error codes and bodies of the OCI distribution spec:
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes

export type ErrorCode =
  | 'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID' | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID' | 'NAME_UNKNOWN' | 'SIZE_INVALID' | 'UNAUTHORIZED'
  | 'DENIED' | 'UNSUPPORTED' | 'TOOMANYREQUESTS' | 'RANGE_INVALID' | 'UNKNOWN';

const STATUS: Record<ErrorCode, number> = {
  BLOB_UNKNOWN: 404, BLOB_UPLOAD_INVALID: 400, BLOB_UPLOAD_UNKNOWN: 404, DIGEST_INVALID: 400, MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400, MANIFEST_UNKNOWN: 404, NAME_INVALID: 400, NAME_UNKNOWN: 404, SIZE_INVALID: 400, UNAUTHORIZED: 401,
  DENIED: 403, UNSUPPORTED: 415, TOOMANYREQUESTS: 429, RANGE_INVALID: 416, UNKNOWN: 500,
};

/** A registry error with the spec's code; `status` overrides the default status. */
export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  constructor(code: ErrorCode, message: string, opts: { status?: number; detail?: unknown } = {}) {
    super(message);
    this.code = code;
    this.status = opts.status ?? STATUS[code];
    this.detail = opts.detail;
  }

  /** The spec's JSON error body. */
  body(): string {
    const err: Record<string, unknown> = { code: this.code === 'RANGE_INVALID' ? 'BLOB_UPLOAD_INVALID' : this.code, message: this.message };
    if (this.detail !== undefined) err.detail = this.detail;
    return JSON.stringify({ errors: [err] });
  }
}
