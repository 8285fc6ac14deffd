import { RunError } from '../../errors.js';
import { writeFileAt } from '../../shell/interp.js';
import { refuse, type Expr } from './parse.js';
import { StrNum, type AwkRun, type V } from './run.js';

// awk's builtin functions, over a running program.

export async function callBuiltin(run: AwkRun, name: string, args: Expr[]): Promise<V> {
  const v = async (i: number) => (args[i] ? run.eval(args[i]!) : '');
  const s = async (i: number) => run.str(await v(i));
  switch (name) {
    case 'length': {
      if (args[0]?.k === 'var') {
        const scope = run.frames.at(-1)?.has(args[0].name) ? run.frames.at(-1)! : run.globals;
        const cur = scope.get(args[0].name);
        if (cur instanceof Map) return cur.size;
      }
      return [...(args.length ? await s(0) : run.fields[0]!)].length;
    }
    case 'substr': {
      const str = [...(await s(0))];
      const m = Math.round(run.num(await v(1)));
      const n = args.length > 2 ? Math.round(run.num(await v(2))) : Infinity;
      const from = Math.max(1, m);
      const to = n === Infinity ? str.length + 1 : Math.min(str.length + 1, m + n);
      return to <= from ? '' : str.slice(from - 1, to - 1).join('');
    }
    case 'index': return (await s(0)).indexOf(await s(1)) + 1;
    case 'split': {
      if (args[1]?.k !== 'var' && args[1]?.k !== 'index') throw new RunError('awk: split needs an array', 2);
      const name2 = (args[1] as { name: string }).name;
      const a = run.array(name2);
      a.clear();
      const sep = args[2] ? (args[2].k === 're' ? args[2].src : await s(2)) : run.str(run.get('FS'));
      const parts = args[2]?.k === 're' ? ((await s(0)) === '' ? [] : (await s(0)).split(run.regex(sep))) : run.split(await s(0), sep);
      parts.forEach((p, i) => a.set(String(i + 1), new StrNum(p)));
      return parts.length;
    }
    case 'sub': case 'gsub': {
      const re = args[0]?.k === 're' ? run.regex(args[0].src) : run.regex(await s(0));
      const rep = await s(1);
      const target: Expr = args[2] ?? { k: 'field', e: { k: 'num', v: 0 } };
      const cur = run.str(await run.eval(target));
      let n = 0;
      const g = new RegExp(re.source, `${re.flags.replace('g', '')}${name === 'gsub' ? 'g' : ''}`);
      const out = cur.replace(g, (m) => { n++; return rep.replace(/\\\\|\\&|&/g, (x) => (x === '&' ? m : x === '\\&' ? '&' : '\\')); });
      if (n > 0) await run.assignTo(target, out);
      return n;
    }
    case 'match': {
      const str = await s(0);
      const re = args[1]?.k === 're' ? run.regex(args[1].src) : run.regex(await s(1));
      const m = re.exec(str);
      run.globals.set('RSTART', m ? [...str.slice(0, m.index)].length + 1 : 0);
      run.globals.set('RLENGTH', m ? [...m[0]].length : -1);
      return m ? [...str.slice(0, m.index)].length + 1 : 0;
    }
    case 'sprintf': return args.length ? run.sprintf(await s(0), await Promise.all(args.slice(1).map((a) => run.eval(a)))) : '';
    case 'tolower': return (await s(0)).toLowerCase();
    case 'toupper': return (await s(0)).toUpperCase();
    case 'int': return Math.trunc(run.num(await v(0)));
    case 'sqrt': return Math.sqrt(run.num(await v(0)));
    case 'exp': return Math.exp(run.num(await v(0)));
    case 'log': return Math.log(run.num(await v(0)));
    case 'sin': return Math.sin(run.num(await v(0)));
    case 'cos': return Math.cos(run.num(await v(0)));
    case 'atan2': return Math.atan2(run.num(await v(0)), run.num(await v(1)));
    case 'close': {
      const f = await s(0);
      const parts = run.files.get(f);
      if (parts) { await writeFileAt(run.sh, f, Buffer.from(parts.join('')), true); run.files.delete(f); }
      return 0;
    }
    case 'fflush': return 0;
    case 'system': throw refuse('system() (a command would be executed)');
    case 'rand': case 'srand': throw refuse(`${name}() (a layer would differ from build to build)`);
    default: throw new RunError(`awk: calling undefined function ${name}`, 2);
  }
}
