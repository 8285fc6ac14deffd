import { OcimakeError } from '../errors.js';

// The limits ocimake puts on what it reads from others: images, registries and Dockerfiles.
// Each has a name, a default and an environment variable that raises (or lowers) it; an
// input past a limit fails with the limit's name and the variable, so a user who really
// has a 2 MiB Dockerfile knows what to set. `ocimake limits` lists them.

export interface LimitSpec {
  /** The variable that sets it: a count, or bytes with an optional unit (KiB, MiB, GiB). */
  env: string;
  default: number;
  unit: 'bytes' | 'count';
  /** What it bounds, for `ocimake limits` and the error. */
  what: string;
}

export const LIMIT_SPECS = {
  manifestSize: { env: 'OCIMAKE_MAX_MANIFEST_SIZE', default: 4 << 20, unit: 'bytes', what: 'the size of a manifest or index read from a registry or layout' },
  configSize: { env: 'OCIMAKE_MAX_CONFIG_SIZE', default: 4 << 20, unit: 'bytes', what: 'the size of an image config' },
  dockerfileSize: { env: 'OCIMAKE_MAX_DOCKERFILE_SIZE', default: 1 << 20, unit: 'bytes', what: 'the size of a Dockerfile' },
  pathLength: { env: 'OCIMAKE_MAX_PATH_LENGTH', default: 4096, unit: 'bytes', what: 'the length of a path or link target in a layer' },
  pathDepth: { env: 'OCIMAKE_MAX_PATH_DEPTH', default: 2048, unit: 'count', what: 'the number of directories a path in a layer goes down' },
  layerEntries: { env: 'OCIMAKE_MAX_LAYER_ENTRIES', default: 1_000_000, unit: 'count', what: 'the number of entries in one layer' },
  urlFileSize: { env: 'OCIMAKE_MAX_URL_SIZE', default: 8 * (1 << 30), unit: 'bytes', what: 'the size of a file ADD <url> downloads (refused before reading when the server says it is larger, cut off at the limit when it does not)' },
  runLoopIterations: { env: 'OCIMAKE_MAX_RUN_LOOP_ITERATIONS', default: 100_000, unit: 'count', what: 'the iterations of all while and until loops of one natively interpreted RUN, nested ones included (a RUN past it fails; it is never cut short)' },
  runFunctionDepth: { env: 'OCIMAKE_MAX_RUN_FUNCTION_DEPTH', default: 1000, unit: 'count', what: 'how deep shell functions of one natively interpreted RUN may call each other' },
  runStringSize: { env: 'OCIMAKE_MAX_RUN_STRING_SIZE', default: 64 << 20, unit: 'bytes', what: 'the length of one expanded word, variable value or command substitution output of a natively interpreted RUN' },
  runFileSize: { env: 'OCIMAKE_MAX_RUN_FILE_SIZE', default: 1 << 30, unit: 'bytes', what: 'what one natively interpreted RUN holds in memory at a time: a file it writes, a pipe or redirection, a download (wget, curl), or the members an archive unpacks to (tar, unzip, gunzip)' },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof LIMIT_SPECS;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1 << 10, kb: 1000, kib: 1 << 10, m: 1 << 20, mb: 1e6, mib: 1 << 20, g: 1 << 30, gb: 1e9, gib: 1 << 30 };

/** The value of a limit: its variable when set (checked), else its default. */
export function limit(name: LimitName): number {
  const spec: LimitSpec = LIMIT_SPECS[name];
  const raw = process.env[spec.env];
  if (raw === undefined || raw.trim() === '') return spec.default;
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(raw);
  const factor = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || factor === undefined || (spec.unit === 'count' && m[2] !== '') || Number(m[1]) === 0) {
    throw new OcimakeError('FLAG_INVALID', `${spec.env}="${raw}" is not a valid ${spec.unit === 'bytes' ? 'size' : 'count'}`, {
      hint: spec.unit === 'bytes' ? `e.g. ${spec.env}=8MiB (bytes, or with KiB, MiB or GiB); the default is ${formatLimit(spec.default, spec.unit)}` : `a whole number above 0; the default is ${spec.default}`,
    });
  }
  return Number(m[1]) * factor;
}

export function formatLimit(n: number, unit: LimitSpec['unit']): string {
  if (unit === 'count') return String(n);
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} B`;
}

/**
 * The error for an input past a limit: `subject` says what was too big, and the message
 * names the limit, its value and the variable that raises it.
 */
export function overLimit(name: LimitName, subject: string, hint = 'the input is malformed or hostile'): OcimakeError {
  const spec: LimitSpec = LIMIT_SPECS[name];
  return new OcimakeError('LIMIT_EXCEEDED', `${subject}: past the limit ${name} (${formatLimit(limit(name), spec.unit)})`, {
    hint: `${hint}; if it is genuine, raise the limit with ${spec.env}=N`,
  });
}

/** Every limit with its current value, for `ocimake limits`. */
export function describeLimits(): string {
  const rows = Object.entries(LIMIT_SPECS).map(([name, spec]) => {
    const s: LimitSpec = spec;
    const set = process.env[s.env] !== undefined && process.env[s.env]!.trim() !== '';
    return `${name.padEnd(15)} ${formatLimit(limit(name as LimitName), s.unit).padEnd(10)} ${s.env}${set ? ' (set)' : ''}\n  ${s.what}`;
  });
  return `${rows.join('\n')}\n`;
}
