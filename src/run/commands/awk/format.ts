import { formatFloat } from '../text.js';

/** awk's printf: %c %d %i %o %u %x %X %e %f %g %s %%, flags, width and precision (also *). */
export function awkSprintf<V>(fmt: string, vals: V[], num: (v: V | string) => number, str: (v: V | string) => string): string {
    let k = 0;
    const next = () => vals[k++] ?? '';
    return fmt.replace(/%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d*))?([cdiouxXeEfFgGs%])/g, (_m, flags: string, w: string | undefined, prec: string | undefined, conv: string) => {
      if (conv === '%') return '%';
      const width = w === '*' ? num(next()) : Number(w ?? 0);
      const p = prec === '*' ? num(next()) : prec === undefined ? undefined : Number(prec || 0);
      const v = next();
      let s: string;
      switch (conv) {
        case 'c': s = typeof v === 'number' ? String.fromCodePoint(v) : str(v).slice(0, 1); break;
        case 's': s = p === undefined ? str(v) : [...str(v)].slice(0, p).join(''); break;
        case 'd': case 'i': case 'u': {
          const n = Math.trunc(num(v));
          s = String(Math.abs(n));
          if (p !== undefined) s = s.padStart(p, '0');
          s = n < 0 ? `-${s}` : flags.includes('+') ? `+${s}` : flags.includes(' ') ? ` ${s}` : s;
          break;
        }
        case 'o': case 'x': case 'X': {
          const n = Math.trunc(num(v));
          s = (n >>> 0).toString(conv === 'o' ? 8 : 16);
          if (conv === 'X') s = s.toUpperCase();
          if (p !== undefined) s = s.padStart(p, '0');
          break;
        }
        default: s = formatFloat(num(v), conv, p ?? 6, flags);
      }
      if (s.length < width) {
        if (flags.includes('-')) s = s.padEnd(width);
        else if (flags.includes('0') && !'cs'.includes(conv)) { const sign = /^[-+ ]/.test(s) ? s[0]! : ''; s = sign + s.slice(sign.length).padStart(width - sign.length, '0'); } else s = s.padStart(width);
      }
      return s;
    });
}
