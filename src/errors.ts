/**
 * The one error base of ocimake. `code` is one of ERROR_CODES (stable: CI tools act on it),
 * `hint` a one-line suggestion for the user, `location` where the error is (the Dockerfile and
 * line, or the image), `cause` chains.
 */
export class OcimakeError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly location: ErrorLocation | undefined;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; location?: ErrorLocation } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OcimakeError';
    this.code = code;
    this.hint = opts.hint;
    // A wrapper keeps what the error it wraps knew of where, and adds its own.
    const below = opts.cause instanceof OcimakeError ? opts.cause.location : undefined;
    this.location = below || opts.location ? { ...below, ...opts.location } : undefined;
  }

  /** The error as CI tools read it (--progress=rawjson, --metadata-file). */
  toJSON(): { code: ErrorCode; message: string; hint?: string; location?: ErrorLocation } {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}), ...(this.location ? { location: this.location } : {}) };
  }
}

/**
 * The one list of error codes: every OcimakeError has one of these (the type enforces it), and
 * docs/ERRORS.md is made from it (test/architecture/error-codes.test.ts). Registry codes keep
 * the distribution spec's names. CI tools can act on a code; its words may change.
 */
export const ERROR_CODES = {
  BLOB_UNKNOWN: 'a blob the registry (or an image) does not have',
  BLOB_UPLOAD_INVALID: 'an upload the registry refused or lost, or a session used twice at once',
  BLOB_UPLOAD_UNKNOWN: 'an upload session the registry does not know',
  DIGEST_INVALID: 'content whose digest is not what it was asked by: corrupt, tampered with, or cut',
  MANIFEST_BLOB_UNKNOWN: 'a manifest names a blob the repository lacks',
  MANIFEST_INVALID: 'a manifest or index that is not valid JSON of its kind, or names what it should not',
  MANIFEST_UNKNOWN: 'a tag or digest the repository does not have',
  NAME_INVALID: 'a repository name the registry refuses',
  NAME_UNKNOWN: 'a repository the registry does not have',
  SIZE_INVALID: 'content whose size is not what its descriptor says',
  UNAUTHORIZED: 'the registry wants credentials (none, or not these)',
  DENIED: 'the credentials do not allow this (pull or push of that repository)',
  UNSUPPORTED: 'something the registry or ocimake does not do',
  TOOMANYREQUESTS: 'a registry rate limit or session cap',
  REGISTRY_ERROR: "a registry error answer with a code outside the spec's, or an HTTP status without one",
  NETWORK: 'a connection that failed, reset, timed out or was too slow, after the retries',
  TIMEOUT: 'a wait that ran out',
  TLS_MISMATCH: 'a registry spoke TLS where plain HTTP was asked for, or the other way',
  CREDENTIALS_INSECURE: 'credentials that would go in clear text to a host that is not loopback',
  CREDENTIAL_HELPER: 'a docker-credential-* helper that failed or is missing',
  UNAVAILABLE: 'a service (Fulcio, Rekor, a TUF mirror) that could not be reached',
  REFERENCE_INVALID: 'an image reference that does not parse',
  TAG_INVALID: 'a tag that cannot be one (a digest given as -t)',
  TAG_REQUIRED: 'a push with no image name',
  IMAGE_NOT_FOUND: 'an image that is not where it was named',
  IMAGE_AMBIGUOUS: 'a local layout or archive that holds several images and no name picks one',
  IMAGE_INVALID: 'an image whose manifest, config or layers disagree',
  INDEX_INVALID: 'an index that cannot be made or used (two images for one platform)',
  PLATFORM_INVALID: 'a platform that is not os/arch[/variant], or not linux',
  PLATFORM_NOT_FOUND: 'an index without the platform asked for',
  PLATFORM_UNSUPPORTED: 'a RUN to execute for a platform this host cannot run',
  LAYER_INVALID: 'a layer that is not a valid tar (or gzip/zstd of one)',
  LAYER_UNSAFE: 'a layer entry that would escape the root or is hostile',
  LAYER_UNSUPPORTED: 'a layer media type or entry type ocimake does not read',
  COMPRESSION_UNSUPPORTED: 'a compression this Node cannot do (zstd before 22.15)',
  ARCHIVE_INVALID: 'an archive (docker save, OCI tar, ADD tar) that cannot be read',
  SOURCE_INVALID: 'a source of an image that is not one (not a layout, not an archive)',
  SOURCE_NOT_FOUND: 'a source path that does not exist',
  LIMIT_EXCEEDED: 'an input past a counted limit (ocimake limits lists them and how to raise each)',
  DOCKERFILE_NOT_FOUND: 'no Dockerfile where it was looked for',
  DOCKERFILE_SYNTAX: 'a Dockerfile that does not parse',
  DOCKERFILE_INVALID: 'an instruction that is not valid (its arguments, flags or place)',
  VARIABLE_UNSET: 'a ${VAR:?message} whose variable is not set',
  TARGET_NOT_FOUND: 'a --target the Dockerfile has no stage of',
  CONTEXT_INVALID: 'a build context that cannot be read, or a .dockerignore that does not parse',
  CONTEXT_ESCAPE: 'a COPY source outside the build context',
  COPY_DEST_NOT_DIR: 'several sources copied to a destination that is not a directory',
  CHMOD_INVALID: 'a --chmod value that is no mode',
  CHOWN_INVALID: 'a --chown user or group the stage cannot resolve',
  USER_INVALID: "a USER the stage's /etc/passwd cannot resolve",
  DURATION_INVALID: 'a HEALTHCHECK duration that does not parse',
  CHECKSUM_MISMATCH: 'an ADD --checksum that the download does not match',
  PATH_INVALID: 'a path that cannot be one (empty, NUL, too long)',
  PATH_ESCAPE: 'a path that would resolve outside its root',
  SYMLINK_LOOP: 'a chain of symlinks that does not end',
  FILE_UNREADABLE: 'a file ocimake could not read (permissions, gone, a directory)',
  CACHE_DIR: 'a cache directory that cannot be used',
  CACHE_INVALID: 'a --cache-from that is not a cache',
  CACHE_MISSING: 'a --cache-from that is not there (a warning on a first build)',
  LOCK_MISSING: 'a --locked build with no ocimake.lock',
  LOCK_INVALID: 'an ocimake.lock that does not parse',
  LOCK_MISMATCH: 'a --locked build where something resolved differently from the lock',
  RUN_FAILED: 'a RUN whose command exited with a non-zero status',
  RUN_SYNTAX: 'RUN shell text that does not parse',
  RUN_UNSUPPORTED: 'a RUN that needs a program, a form or an option native RUN does not have, where nothing can execute it',
  RUN_NO_SHELL: 'a shell-form RUN on an image with no shell',
  RUN_MOUNT_INVALID: 'a RUN --mount that does not parse or names what is not there',
  SECRET_MISSING: 'a RUN --mount=type=secret whose id no --secret gives (required=true)',
  SSH_MISSING: 'a RUN --mount=type=ssh with no --ssh agent',
  APK_INVALID: 'an APKINDEX or .apk that is not valid',
  APK_BAD_SIGNATURE: 'an apk index or package whose signature does not verify',
  APK_CHECKSUM: "an apk package whose checksum is not the index's",
  APK_CONFLICT: 'apk packages that cannot be installed together',
  APK_UNSATISFIABLE: 'apk dependencies no package in the repositories satisfies',
  APK_FETCH: 'an apk repository or package that answered with an error',
  APK_REPOSITORY: 'an /etc/apk/repositories line that is not a repository URL',
  APK_STATE: 'a stage without the apk state apk needs (/etc/apk/arch, repositories)',
  APK_SCRIPTS: 'apk install scripts ocimake does not emulate, under --strict-scripts',
  APK_UNSUPPORTED: 'an apk subcommand or option native apk does not have',
  APK_UNTRUSTED: 'apk --allow-untrusted without --apk-allow-untrusted',
  KEY_INVALID: 'a signing key or public key that cannot be used',
  SIGN_FAILED: 'signing that failed (Fulcio, Rekor, the identity token)',
  SIGNATURE_INVALID: 'a signature or bundle that does not verify',
  SIGNATURE_MISSING: 'an image with no signed attestation where verify wants one',
  TRUST_ROOT_UNAVAILABLE: "Sigstore's trusted root could not be had (TUF)",
  FLAG_INVALID: 'a flag or value that is not valid',
  FLAG_UNSUPPORTED: 'a flag ocimake refuses, with what to do instead (--load, --allow security.insecure)',
  OUTPUT_INVALID: 'an --output that cannot be written as asked',
  OUTPUT_BUSY: 'an output another ocimake is writing',
  CONFIG_INVALID: 'a configuration file that cannot be read (--auth-config)',
  ADDR_IN_USE: 'registry serve: the address is taken',
  ADDR_DENIED: 'registry serve: the port needs privileges',
  ADDR_INVALID: 'registry serve: no such address on this host',
  PLATFORM_MISMATCH: 'a base image of another platform than the stage asks for',
  UNSUPPORTED_INSTRUCTION: 'an instruction ocimake does not build (ONBUILD triggers of a base, for one)',
  ADD_FETCH: 'ADD <url> (or RUN wget/curl) got an HTTP error answer instead of the file',
  FS_EEXIST: 'filesystem: something of that name is in the way',
  FS_EISDIR: 'filesystem: a directory where a file was meant',
  FS_ENOTDIR: 'filesystem: a file where a directory was meant',
  FS_EACCES: 'filesystem: permission denied',
  FS_EPERM: 'filesystem: the operation is not permitted',
  FS_ENOSPC: 'filesystem: no space left on the device',
  FS_EDQUOT: 'filesystem: the disk quota is exhausted',
  FS_EROFS: 'filesystem: read-only',
  FS_ENOENT: 'filesystem: no such file or directory',
  FS_EMFILE: 'filesystem: too many open files',
  FS_ENAMETOOLONG: 'filesystem: a name too long',
  INTERNAL: 'an error ocimake did not expect: a bug, please report it with OCIMAKE_DEBUG=1 output',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** True for a code of the list (a registry's answer may carry any string). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** Where an error is: the Dockerfile and line, or the image reference. */
export interface ErrorLocation { file?: string; line?: number; reference?: string }


/** The error, with where it is added to what it knew (the Dockerfile and line, the image). */
export function withLocation(err: unknown, location: ErrorLocation): OcimakeError {
  if (!(err instanceof OcimakeError)) return new OcimakeError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err, location });
  return new OcimakeError(err.code, err.message, { ...(err.hint ? { hint: err.hint } : {}), cause: err, location });
}

/** Wraps any error with context ("pushing x: ..."), keeping the code and hint of an OcimakeError. */
export function withContext(context: string, err: unknown): OcimakeError {
  if (err instanceof OcimakeError) {
    return new OcimakeError(err.code, `${context}: ${err.message}`, { hint: err.hint, cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new OcimakeError('INTERNAL', `${context}: ${msg}`, { cause: err });
}
