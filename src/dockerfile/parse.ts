// A Dockerfile parser that follows BuildKit's grammar (moby/buildkit frontend/dockerfile/parser)
// and is tested against BuildKit's own parser corpus. Written by hand because dockerfile-ast
// loses the spaces inside exec-form JSON strings and has no heredocs.
import { goQuote, goQuoteList } from './go-quote.js';
import {
  extractFlags, GrammarError, parseHealthConfig, parseMaybeJson, parseMaybeJsonToList, parseNameOrNameVal, parseNameVal,
  parseString, parseWhitespaceDelimited, syntaxError, type ParsedArgs,
} from './line-parsers.js';

/** A heredoc attached to an instruction (`COPY <<EOF /dest`, `RUN <<EOF`). */
export interface Heredoc {
  name: string;
  content: string;
  /** False when the marker was quoted (`<<"EOF"`): no variable expansion in the body. */
  expand: boolean;
  /** `<<-EOF`: leading tabs are stripped from the body and the terminator. */
  chomp: boolean;
  fileDescriptor?: number;
}

/** One instruction as the parser sees it. */
export interface Node {
  keyword: string;
  original: string;
  startLine: number;
  endLine: number;
  flags: string[];
  args: string[];
  json: boolean;
  heredocs: Heredoc[];
  /** ONBUILD's instruction. */
  sub?: Node;
}

export interface ParseResult {
  nodes: Node[];
  escapeToken: string;
  directives: Record<string, string>;
  warnings: string[];
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['escape', 'syntax', 'check']);
const HEREDOC_KEYWORDS = new Set(['run', 'copy', 'add']);
const HEREDOC_WORD = /^(\d*)<<(-?)\s*(["']?)([^\s"'<]+)\3$/;

/** Parses Dockerfile text; throws DOCKERFILE_SYNTAX errors that name the file and line. */
export function parseDockerfile(text: string, opts: { file?: string } = {}): ParseResult {
  const file = opts.file ?? 'Dockerfile';
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const directives: Record<string, string> = {};
  const warnings: string[] = [];
  let escape = '\\';
  let directivesDone = false;
  let contRe = /(^|[^\\])\\[ \t]*$/;
  const nodes: Node[] = [];

  const processLine = (raw: string, stripLeft: boolean, lineNo: number): string => {
    let token = raw.replace(/\r$/, '');
    if (stripLeft) token = token.replace(/^[ \t]+/, '');
    if (!directivesDone) {
      const m = DIRECTIVE.exec(token);
      if (!m) directivesDone = true;
      else {
        const key = m[1]!.toLowerCase();
        if (KNOWN_DIRECTIVES.has(key)) {
          if (key in directives) throw syntaxError(file, lineNo, `only one ${key} parser directive can be used`);
          directives[key] = m[2]!;
          if (key === 'escape') {
            if (m[2] !== '`' && m[2] !== '\\') throw syntaxError(file, lineNo, `invalid escape token '${m[2]}' does not match \` or \\`);
            escape = m[2];
            contRe = escape === '`' ? /(^|[^`])`[ \t]*$/ : /(^|[^\\])\\[ \t]*$/;
          }
        }
      }
    }
    return token.startsWith('#') ? '' : token;
  };
  const isComment = (raw: string) => /^\s*#/.test(raw);
  const trimCont = (line: string): [string, boolean] => {
    const m = contRe.exec(line);
    return m ? [line.slice(0, m.index) + m[1], false] : [line, true];
  };

  let i = 0;
  while (i < lines.length) {
    const raw = lines[i]!;
    const bytes = processLine(raw, true, i + 1);
    i++;
    const startLine = i;
    let [line, end] = trimCont(bytes);
    if (end && line === '') continue;
    let emptyContinuation = false;
    while (!end && i < lines.length) {
      const next = lines[i]!;
      const b = processLine(next, false, i + 1);
      i++;
      if (isComment(next)) continue;
      if (b.replace(/^[ \t]+/, '') === '') { emptyContinuation = true; continue; }
      const [c, e] = trimCont(b);
      line += c;
      end = e;
    }
    if (emptyContinuation) warnings.push(`${file}:${i}: empty continuation line`);
    const node = nodeFromLine(line, escape, file, startLine);
    if (HEREDOC_KEYWORDS.has(node.keyword) && line.includes('<<')) {
      for (const h of heredocMarkers(node)) {
        let terminated = false;
        let content = '';
        while (i < lines.length) {
          let l = lines[i]!.replace(/\r$/, '');
          i++;
          if (h.chomp) l = l.replace(/^\t+/, '');
          if (l === h.name) { terminated = true; break; }
          content += `${l}\n`;
        }
        if (!terminated) throw syntaxError(file, startLine, `unterminated heredoc ${h.name}`, `end it with a line holding only ${h.name}`);
        node.heredocs.push({ ...h, content });
      }
    }
    node.endLine = i;
    nodes.push(node);
  }
  if (nodes.length === 0) throw syntaxError(file, 1, 'the Dockerfile (or stdin) has no instructions', 'a Dockerfile needs at least a FROM instruction');
  return { nodes, escapeToken: escape, directives, warnings };
}

function nodeFromLine(line: string, escape: string, file: string, lineNo: number): Node {
  const trimmed = line.trim();
  const m = /[\t\v\f\r ]+/.exec(trimmed);
  const keyword = (m ? trimmed.slice(0, m.index) : trimmed).toLowerCase();
  const after = m ? trimmed.slice(m.index + m[0].length) : '';
  const { flags, rest } = after === '' ? { flags: [], rest: '' } : extractFlags(after);
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(keyword, rest, escape);
  } catch (err) {
    if (err instanceof GrammarError) throw syntaxError(file, lineNo, err.message);
    throw err;
  }
  const node: Node = { keyword, original: line, startLine: lineNo, endLine: lineNo, flags, args: parsed.args, json: parsed.json, heredocs: [] };
  if (parsed.sub !== undefined) node.sub = nodeFromLine(parsed.sub, escape, file, lineNo);
  return node;
}

function parseArgs(keyword: string, rest: string, escape: string): ParsedArgs {
  switch (keyword) {
    case 'add': case 'copy': case 'volume': return parseMaybeJsonToList(rest);
    case 'arg': return parseNameOrNameVal(rest, escape);
    case 'cmd': case 'entrypoint': case 'run': case 'shell': return parseMaybeJson(rest);
    case 'env': return parseNameVal(rest, 'ENV', escape);
    case 'label': return parseNameVal(rest, 'LABEL', escape);
    case 'expose': case 'from': return parseWhitespaceDelimited(rest);
    case 'healthcheck': return parseHealthConfig(rest);
    case 'maintainer': case 'stopsignal': case 'user': case 'workdir': return parseString(rest);
    case 'onbuild': return rest === '' ? { args: [], json: false } : { args: [], json: false, sub: rest };
    default: return { args: [], json: false }; // unknown instructions are refused later, with the line
  }
}

function heredocMarkers(node: Node): Omit<Heredoc, 'content'>[] {
  const out: Omit<Heredoc, 'content'>[] = [];
  const words = node.json ? node.args : node.args.flatMap((a) => a.split(/\s+/));
  for (const w of words) {
    const m = HEREDOC_WORD.exec(w);
    if (!m) continue;
    const h: Omit<Heredoc, 'content'> = { name: m[4]!, expand: m[3] === '', chomp: m[2] === '-' };
    if (m[1]) h.fileDescriptor = Number(m[1]);
    out.push(h);
  }
  return out;
}

/** BuildKit's Node.Dump(): the one-line S-expression the corpus `result` files hold. */
export function dumpNode(node: Node): string {
  let s = node.keyword;
  if (node.flags.length > 0) s += ` ${goQuoteList(node.flags)}`;
  if (node.sub) s += ` (${dumpNode(node.sub)})`;
  for (const a of node.args) s += ` ${goQuote(a)}`;
  return s.trim();
}
