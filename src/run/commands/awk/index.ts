import { RunError } from '../../errors.js';
import { absPath, type Command } from '../../shell/state.js';
import { readOperand } from '../text.js';
import { parseAwk } from './parse.js';
import { AwkRun, StrNumOf, type AwkInput } from './run.js';

// awk, natively: awk [-F FS] [-v VAR=VALUE]... [-f FILE | 'PROGRAM'] [FILE | VAR=VALUE]...

/** Escape sequences in -v values, -F and command-line assignments, as awk processes them. */
function unescape(s: string): string {
  const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', '/': '/', a: '\x07', b: '\b', f: '\f', v: '\v' };
  return s.replace(/\\([0-7]{1,3}|.)/g, (m, c: string) => (/^[0-7]+$/.test(c) ? String.fromCharCode(parseInt(c, 8)) : map[c] ?? m));
}

export const awkCommand: Command = async (args, io, sh) => {
  let fs: string | undefined;
  const assigns: [string, string][] = [];
  let source: string | undefined;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') { i++; break; }
    if (a.startsWith('-F')) { fs = unescape(a.length > 2 ? a.slice(2) : args[++i] ?? ''); continue; }
    if (a.startsWith('-v')) {
      const kv = a.length > 2 ? a.slice(2) : args[++i] ?? '';
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(kv);
      if (!m) throw new RunError(`awk: invalid -v argument '${kv}'`, 2);
      assigns.push([m[1]!, unescape(m[2]!)]);
      continue;
    }
    if (a.startsWith('-f')) {
      const f = a.length > 2 ? a.slice(2) : args[++i] ?? '';
      source = `${source ?? ''}${(await readOperand(sh, f, io.stdin)).toString('utf8')}\n`;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      const { OcimakeError } = await import('../../../errors.js');
      throw new OcimakeError('RUN_UNSUPPORTED', `awk ${a} is not supported natively`, { hint: 'awk -F, -v and -f are' });
    }
    break;
  }
  if (source === undefined) {
    if (i >= args.length) throw new RunError('usage: awk [-F SEP] [-v VAR=VAL] [-f FILE | PROGRAM] [FILE]...', 2);
    source = args[i++]!;
  }
  const operands = args.slice(i);
  const prog = parseAwk(source);
  const run = new AwkRun(prog, io, sh);
  if (fs !== undefined) run.globals.set('FS', fs);
  for (const [k, v] of assigns) run.globals.set(k, StrNumOf(v));
  run.globals.set('ARGC', operands.length + 1);
  run.globals.set('ARGV', new Map([['0', 'awk'], ...operands.map((o, n) => [String(n + 1), o] as [string, string])]));
  const inputs = async function* (): AsyncIterable<AwkInput> {
    let files = 0;
    for (const o of operands) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(o);
      if (m) { run.globals.set(m[1]!, StrNumOf(unescape(m[2]!))); continue; }
      files++;
      try {
        yield { name: o, data: await readOperand(sh, o === '-' ? '-' : absPath(sh, o), io.stdin) };
      } catch (e) {
        if (e instanceof RunError) throw new RunError(`awk: cannot open ${o} (No such file or directory)`, 2);
        throw e;
      }
    }
    if (files === 0) yield { name: '', data: await readOperand(sh, '-', io.stdin) };
  };
  return run.run(inputs);
};
