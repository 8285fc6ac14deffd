import { OcimakeError } from '../errors.js';

// The argument parsers of BuildKit's Dockerfile grammar (frontend/dockerfile/parser,
// line_parsers.go), one per instruction family. Each turns the text after the keyword and
// flags into the argument list the parse dump prints.

export interface ParsedArgs {
  args: string[];
  json: boolean;
  /** ONBUILD's instruction, parsed as a line of its own. */
  sub?: string;
}

const WS = /[\t\v\f\r ]+/;

/** Thrown by the line parsers; the caller adds the file and line. */
export class GrammarError extends Error {}

/** `parseString`: the whole rest is one argument. */
export function parseString(rest: string): ParsedArgs {
  return { args: rest === '' ? [] : [rest], json: false };
}

/** `parseStringsWhitespaceDelimited`: FROM, EXPOSE. */
export function parseWhitespaceDelimited(rest: string): ParsedArgs {
  return { args: rest === '' ? [] : rest.split(WS).filter((s, i, a) => !(s === '' && (i === 0 || i === a.length - 1))), json: false };
}

type JsonResult = { ok: true; args: string[] } | { ok: false; notStrings: boolean };

function parseJson(rest: string): JsonResult {
  const t = rest.trimStart();
  if (!t.startsWith('[')) return { ok: false, notStrings: false };
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return { ok: false, notStrings: false };
  }
  if (!Array.isArray(v)) return { ok: false, notStrings: false };
  if (!v.every((x) => typeof x === 'string')) return { ok: false, notStrings: true };
  return { ok: true, args: v as string[] };
}

const NOT_STRINGS = 'when using JSON array syntax, arrays must be comprised of strings only';

/** `parseMaybeJSON`: CMD, ENTRYPOINT, RUN, SHELL: a JSON string array, else the raw rest. */
export function parseMaybeJson(rest: string): ParsedArgs {
  if (rest === '') return { args: [], json: false };
  const j = parseJson(rest);
  if (j.ok) return { args: j.args, json: true };
  if (j.notStrings) throw new GrammarError(NOT_STRINGS);
  return { args: [rest], json: false };
}

/** `parseMaybeJSONToList`: COPY, ADD, VOLUME: a JSON string array, else whitespace-split words. */
export function parseMaybeJsonToList(rest: string): ParsedArgs {
  const j = parseJson(rest);
  if (j.ok) return { args: j.args, json: true };
  if (j.notStrings) throw new GrammarError(NOT_STRINGS);
  return parseWhitespaceDelimited(rest);
}

/**
 * `parseWords`: splits on whitespace outside quotes, keeping quotes and escape tokens in
 * the words (they are removed later, when variables are expanded).
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  const chars = [...rest];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOk = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (/\s/.test(ch)) continue;
      phase = 'word';
    }
    if (pos === chars.length) {
      if (blankOk || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (/\s/.test(ch)) {
        phase = 'spaces';
        if (blankOk || word.length > 0) words.push(word);
        word = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') { quote = ch; blankOk = true; phase = 'quote'; }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        pos++;
        ch = chars[pos]!;
      }
      word += ch;
      continue;
    }
    // in a quote
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) { phase = 'word'; continue; }
      pos++;
      word += ch;
      ch = chars[pos]!;
    }
    word += ch;
  }
  return words;
}

/** `parseNameVal`: ENV and LABEL, old `KEY name value` or new `KEY a=b c=d` form; triples of name, value, "=" or "". */
export function parseNameVal(rest: string, keyword: string, escape: string): ParsedArgs {
  const words = parseWords(rest, escape);
  if (words.length === 0) return { args: [], json: false };
  if (!words[0]!.includes('=')) {
    const m = WS.exec(rest);
    if (!m) throw new GrammarError(`${keyword} must have two arguments`);
    return { args: [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ''], json: false };
  }
  const args: string[] = [];
  for (const w of words) {
    const i = w.indexOf('=');
    if (i < 0) throw new GrammarError(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    args.push(w.slice(0, i), w.slice(i + 1), '=');
  }
  return { args, json: false };
}

/** `parseNameOrNameVal`: ARG: each word as written. */
export function parseNameOrNameVal(rest: string, escape: string): ParsedArgs {
  return { args: parseWords(rest, escape), json: false };
}

/** `parseHealthConfig`: the type word (CMD/NONE), then CMD's command as parseMaybeJson gives it. */
export function parseHealthConfig(rest: string): ParsedArgs {
  const m = /^\S+/.exec(rest);
  if (!m) return { args: [], json: false };
  const after = rest.slice(m[0].length).replace(/^\s+/, '');
  const cmd = parseMaybeJson(after);
  return { args: [m[0], ...cmd.args], json: cmd.json };
}

/**
 * `extractBuilderFlags`: leading `--flag[=value]` words (quotes removed, `--` ends them);
 * returns the flags and the rest of the line.
 */
export function extractFlags(line: string): { flags: string[]; rest: string } {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOk = false;
  for (let pos = 0; pos <= line.length; pos++) {
    let ch = line[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === line.length) break;
      if (/\s/.test(ch)) continue;
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-') return { flags: words, rest: line.slice(pos) };
      phase = 'word';
    }
    if (pos === line.length) {
      if (word !== '--' && (blankOk || word.length > 0)) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (/\s/.test(ch)) {
        phase = 'spaces';
        if (word === '--') return { flags: words, rest: line.slice(pos) };
        if (blankOk || word.length > 0) words.push(word);
        word = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') { quote = ch; blankOk = true; phase = 'quote'; continue; }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) { phase = 'word'; continue; }
    if (ch === '\\') {
      if (pos + 1 === line.length) { phase = 'word'; continue; }
      pos++;
      ch = line[pos]!;
    }
    word += ch;
  }
  return { flags: words, rest: '' };
}

/** Builds a syntax error for a line. */
export function syntaxError(file: string, line: number, message: string, hint?: string): OcimakeError {
  return new OcimakeError('DOCKERFILE_SYNTAX', `${file}:${line}: ${message}`, { hint: hint ?? 'see https://docs.docker.com/reference/dockerfile/ for the syntax' });
}
