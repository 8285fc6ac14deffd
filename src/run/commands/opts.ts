import { OcimakeError } from '../../errors.js';
import { RunError } from '../errors.js';

/**
 * An option the native command does not know: busybox may well have it, so the RUN is refused
 * rather than failed with a status a script could take for busybox's answer.
 */
function unknownOption(cmd: string, opt: string): OcimakeError {
  return new OcimakeError('RUN_UNSUPPORTED', `${cmd} ${opt} is not supported natively`, { hint: 'write the RUN with the options ocimake interprets (README: "Native RUN"), or let it execute (--isolation auto)' });
}

/** Parsed options: flags seen (last value wins for options with a value), and the operands. */
export interface Parsed { flags: Set<string>; values: Map<string, string[]>; rest: string[] }

/**
 * Parses options as busybox's getopt32 does: `spec` lists short options, a `:` after one
 * takes a value; clusters (`-rf`), values attached or separate, options mixed with operands,
 * `--` ends options. `long` maps long names to short ones.
 */
export function parseOpts(cmd: string, args: readonly string[], spec: string, long: Record<string, string> = {}): Parsed {
  const takes = new Set<string>();
  for (let i = 0; i < spec.length; i++) if (spec[i + 1] === ':') takes.add(spec[i]!);
  const known = new Set(spec.replaceAll(':', ''));
  const out: Parsed = { flags: new Set(), values: new Map(), rest: [] };
  const put = (k: string, v?: string) => {
    out.flags.add(k);
    if (v !== undefined) out.values.set(k, [...(out.values.get(k) ?? []), v]);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') { out.rest.push(...args.slice(i + 1)); break; }
    if (a.startsWith('--') && a.length > 2) {
      const [name, value] = a.slice(2).split(/=(.*)/s) as [string, string | undefined];
      // As getopt_long: a unique prefix of a long option names it (apk --update-cache, install --dir).
      const hits = Object.keys(long).filter((n) => n.startsWith(name));
      const k = long[name] ?? (new Set(hits.map((h) => long[h])).size === 1 ? long[hits[0]!] : undefined);
      if (!k) throw hits.length > 1 ? new RunError(`option '--${name}' is ambiguous`, 1) : unknownOption(cmd, `--${name}`);
      if (takes.has(k)) put(k, value ?? args[++i]);
      else put(k);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const ch = a[j]!;
        if (!known.has(ch)) throw unknownOption(cmd, `-${ch}`);
        if (takes.has(ch)) {
          const v = j + 1 < a.length ? a.slice(j + 1) : args[++i];
          if (v === undefined) throw new RunError(`option requires an argument -- '${ch}'`, 1);
          put(ch, v);
          break;
        }
        put(ch);
      }
      continue;
    }
    out.rest.push(a);
  }
  return out;
}

/** The last value of an option, or undefined. */
export function last(p: Parsed, k: string): string | undefined {
  const v = p.values.get(k);
  return v?.[v.length - 1];
}

/**
 * Runs `each` on every operand, as busybox does: a failing operand prints `NAME: message` and
 * makes the status 1, and the others still run. Errors that are not RunErrors propagate.
 */
export async function eachOperand<T>(name: string, items: readonly T[], io: { err(s: string): void }, each: (item: T) => Promise<void>): Promise<number> {
  let status = 0;
  for (const item of items) {
    try {
      await each(item);
    } catch (e) {
      if (!(e instanceof RunError)) throw e;
      io.err(`${name}: ${e.message}\n`);
      status = 1;
    }
  }
  return status;
}
