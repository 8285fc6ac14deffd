import { RunError } from '../errors.js';

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
      const k = long[name];
      if (!k) throw new RunError(`unrecognized option '--${name}'`, 1);
      if (takes.has(k)) put(k, value ?? args[++i]);
      else put(k);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const ch = a[j]!;
        if (!known.has(ch)) throw new RunError(`invalid option -- '${ch}'`, 1);
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
  void cmd;
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
