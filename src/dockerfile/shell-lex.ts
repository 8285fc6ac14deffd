import { OcimakeError } from '../errors.js';
import { work } from '../util/work.js';

// Word expansion as BuildKit's shell lexer does it for Dockerfile instructions
// (frontend/dockerfile/shell): quotes are removed, the escape token escapes the next
// character, and $VAR, ${VAR}, ${VAR:-word}, ${VAR-word}, ${VAR:+word}, ${VAR+word},
// ${VAR:?msg} and ${VAR?msg} are expanded from `env`.

/** Variables visible to an instruction, last writer wins. */
export type VarMap = ReadonlyMap<string, string>;

/** How deep `${…}` may nest: far past any real use, well inside the call stack. */
const MAX_NESTING = 1000;

class Lexer {
  #i = 0;
  #depth = 0;
  constructor(readonly s: string, readonly env: VarMap, readonly escape: string) {
    work.lexedChars += s.length;
  }

  get done(): boolean { return this.#i >= this.s.length; }
  peek(): string { return this.s[this.#i] ?? ''; }
  next(): string { return this.s[this.#i++] ?? ''; }

  /** Reads words; when `split`, unquoted whitespace separates words. */
  words(split: boolean, stopAt?: string): string[] {
    const out: string[] = [];
    let cur = '';
    let inWord = false;
    while (!this.done) {
      const ch = this.peek();
      if (stopAt !== undefined && ch === stopAt) break;
      if (split && /\s/.test(ch)) {
        this.next();
        if (inWord) { out.push(cur); cur = ''; inWord = false; }
        continue;
      }
      inWord = true;
      if (ch === "'") { this.next(); cur += this.singleQuoted(); }
      else if (ch === '"') { this.next(); cur += this.doubleQuoted(); }
      else if (ch === '$') {
        this.next();
        const value = this.dollar();
        if (!split) cur += value;
        else {
          // An unquoted expansion is split on whitespace, as a shell would.
          const parts = value.split(/\s+/);
          for (let i = 0; i < parts.length; i++) {
            if (i > 0) { if (inWord && (cur !== '' || i > 1)) out.push(cur); cur = ''; }
            cur += parts[i];
          }
          inWord = cur !== '' || (inWord && parts.length === 1);
        }
      }
      else if (ch === this.escape) {
        this.next();
        if (this.done) cur += ch; // a trailing escape is kept literally
        else cur += this.next();
      } else cur += this.next();
    }
    if (inWord || (!split && out.length === 0)) out.push(cur);
    return out;
  }

  singleQuoted(): string {
    let out = '';
    while (!this.done) {
      const ch = this.next();
      if (ch === "'") return out;
      out += ch;
    }
    throw new OcimakeError('DOCKERFILE_SYNTAX', 'unexpected end of statement while looking for matching single-quote');
  }

  doubleQuoted(): string {
    let out = '';
    while (!this.done) {
      const ch = this.peek();
      if (ch === '"') { this.next(); return out; }
      if (ch === '$') { this.next(); out += this.dollar(); continue; }
      if (ch === this.escape) {
        this.next();
        const n = this.peek();
        if (n === '"' || n === '$' || n === this.escape) out += this.next();
        else out += ch;
        continue;
      }
      out += this.next();
    }
    throw new OcimakeError('DOCKERFILE_SYNTAX', 'unexpected end of statement while looking for matching double-quote');
  }

  dollar(): string {
    const ch = this.peek();
    if (ch === '{') {
      this.next();
      if (++this.#depth > MAX_NESTING) {
        throw new OcimakeError('DOCKERFILE_SYNTAX', `\${…} nested more than ${MAX_NESTING} levels deep`, { hint: 'set the value in an ARG or ENV step by step instead of nesting defaults' });
      }
      try { return this.braced(); } finally { this.#depth--; }
    }
    const name = this.name();
    if (name === '') return '$';
    return this.env.get(name) ?? '';
  }

  /** The rest of `${…}`, after the brace. */
  braced(): string {
    const name = this.name();
    if (name === '') throw new OcimakeError('DOCKERFILE_SYNTAX', `bad substitution in "${this.s}"`, { hint: 'use ${NAME}, ${NAME:-default} or ${NAME:+alternative}' });
    const c = this.next();
    if (c === '}') return this.env.get(name) ?? '';
    let colon = false;
    let op = c;
    if (c === ':') { colon = true; op = this.next(); }
    if (op !== '-' && op !== '+' && op !== '?') {
      throw new OcimakeError('DOCKERFILE_SYNTAX', `unsupported modifier (${colon ? ':' : ''}${op}) in substitution of \${${name}}`, { hint: 'supported: ${NAME:-default}, ${NAME-default}, ${NAME:+alt}, ${NAME+alt}, ${NAME:?message}' });
    }
    const word = this.words(false, '}').join('');
    if (this.next() !== '}') throw new OcimakeError('DOCKERFILE_SYNTAX', `missing '}' in substitution of \${${name}}`);
    const set = this.env.has(name);
    const value = this.env.get(name) ?? '';
    const present = colon ? set && value !== '' : set;
    if (op === '-') return present ? value : word;
    if (op === '+') return present ? word : '';
    if (!present) throw new OcimakeError('VARIABLE_UNSET', `${name}: ${word || 'is not allowed to be unset'}`);
    return value;
  }

  name(): string {
    let out = '';
    while (!this.done && /[A-Za-z0-9_]/.test(this.peek())) out += this.next();
    return out;
  }
}

/** Expands one word (quotes removed, variables substituted), as BuildKit's ProcessWord. */
export function expandWord(word: string, env: VarMap, escape = '\\'): string {
  return new Lexer(word, env, escape).words(false).join('');
}

/** Expands and splits on unquoted whitespace, as BuildKit's ProcessWords. */
export function expandWords(text: string, env: VarMap, escape = '\\'): string[] {
  return new Lexer(text, env, escape).words(true);
}
