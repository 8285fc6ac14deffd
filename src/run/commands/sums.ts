import { createHash } from 'node:crypto';
import { RunError } from '../errors.js';
import type { Command } from '../shell/state.js';
import { eachOperand, parseOpts } from './opts.js';
import { readOperand } from './text.js';

// md5sum, sha1sum, sha256sum, sha512sum as busybox has them: print `<hex>  <file>`, or with -c
// check the lines of a list (`<hex>  <file>`, `<hex> *<file>`), printing `<file>: OK` or
// `<file>: FAILED` (nothing with -s) and exiting 1 when any failed. This is how a RUN checks a
// file it downloaded before it unpacks it.

function sum(algo: string, name: string): Command {
  return async (args, io, sh) => {
    const o = parseOpts(name, args, 'csw', { check: 'c', status: 's', warn: 'w' });
    const files = o.rest.length === 0 ? ['-'] : o.rest;
    const hex = (b: Buffer) => createHash(algo).update(b).digest('hex');
    if (!o.flags.has('c')) {
      return eachOperand(name, files, io, async (f) => { io.out(`${hex(await readOperand(sh, f, io.stdin))}  ${f}\n`); });
    }
    let failed = 0;
    let lines = 0;
    const status = await eachOperand(name, files, io, async (list) => {
      for (const line of (await readOperand(sh, list, io.stdin)).toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        const m = /^([0-9a-fA-F]+) [ *](.+)$/.exec(line);
        if (!m) {
          if (o.flags.has('w')) io.err(`${name}: invalid format\n`);
          continue;
        }
        lines++;
        let ok = false;
        try {
          ok = hex(await readOperand(sh, m[2]!, io.stdin)) === m[1]!.toLowerCase();
        } catch (e) {
          if (!(e instanceof RunError)) throw e;
          io.err(`${name}: ${e.message}\n`);
        }
        if (!ok) failed++;
        if (!o.flags.has('s')) io.out(`${m[2]}: ${ok ? 'OK' : 'FAILED'}\n`);
      }
    });
    if (lines === 0) { io.err(`${name}: no checksums found\n`); return 1; }
    if (failed > 0 && !o.flags.has('s')) io.err(`${name}: WARNING: ${failed} of ${lines} computed checksums did NOT match\n`);
    return failed > 0 ? 1 : status;
  };
}

export const SUM_COMMANDS: [string, Command][] = [
  ['md5sum', sum('md5', 'md5sum')], ['sha1sum', sum('sha1', 'sha1sum')], ['sha256sum', sum('sha256', 'sha256sum')], ['sha512sum', sum('sha512', 'sha512sum')],
];
