import { parseDockerfile, type Node } from './parse.js';

// `ocimake build --call=check`: BuildKit's Dockerfile checks (the rules of
// https://docs.docker.com/reference/build-checks/ that need no build), with their names,
// messages and links, so a warning reads the same as in `docker build --check`.

export interface CheckWarning { rule: string; message: string; line: number; endLine: number }

const BUILTIN_ARGS = new Set(['TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT', 'BUILDPLATFORM', 'BUILDOS', 'BUILDARCH', 'BUILDVARIANT']);
const SECRET_WORDS = new Set(['apikey', 'auth', 'credential', 'credentials', 'key', 'password', 'pword', 'passwd', 'secret', 'token']);
const ONE_PER_STAGE = new Set(['cmd', 'entrypoint', 'healthcheck']);

/** The link BuildKit prints for a rule (`FromAsCasing` → …/rule/from-as-casing/). */
export function ruleUrl(rule: string): string {
  return `https://docs.docker.com/go/dockerfile/rule/${rule.replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()}/`;
}

function keywordOf(n: Node): string {
  return n.original.trim().split(/\s+/)[0] ?? '';
}

function varsIn(word: string): string[] {
  return [...word.matchAll(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))/g)].map((m) => (m[1] ?? m[2])!);
}

/** True when a variable's name says it holds a secret (BuildKit's SecretsUsedInArgOrEnv rule). */
export function looksSecret(name: string): boolean {
  const words = name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  if (words.includes('public')) return false;
  return words.some((w) => SECRET_WORDS.has(w)) || /api_?key|private_?key/i.test(name);
}

/** Runs the checks on a Dockerfile's text; a `# check=skip=Rule,…` directive (or skip=all) is honoured. */
export function checkDockerfile(text: string, file = 'Dockerfile'): CheckWarning[] {
  const parsed = parseDockerfile(text, { file });
  const out: CheckWarning[] = [];
  const warn = (n: Pick<Node, 'startLine' | 'endLine'>, rule: string, message: string) => out.push({ rule, message, line: n.startLine, endLine: n.endLine });
  const nodes = parsed.nodes;
  for (const w of parsed.warnings) {
    const m = /:(\d+): empty continuation line/.exec(w);
    if (!m) continue;
    // Reported on the instruction that holds the empty line, as BuildKit does.
    const at = Number(m[1]);
    const n = nodes.find((x) => x.startLine <= at && at <= x.endLine) ?? { startLine: at, endLine: at };
    warn(n, 'NoEmptyContinuation', 'Empty continuation line');
  }
  const upper = nodes.filter((n) => keywordOf(n) === keywordOf(n).toUpperCase()).length;
  const majorityUpper = upper * 2 >= nodes.length;
  const globalArgs = new Set<string>();
  let seenFrom = false;
  let stageCounts = new Map<string, { count: number; last: Node }>();
  let stageWorkdirAbsolute = false;
  const flushStage = () => {
    for (const [kw, { count, last }] of stageCounts) if (count > 1) {
      warn(last, 'MultipleInstructionsDisallowed', `Multiple ${kw.toUpperCase()} instructions should not be used in the same stage because only the last one will be used`);
    }
    stageCounts = new Map();
  };
  for (const n of nodes) {
    const kw = keywordOf(n);
    if (kw !== (majorityUpper ? kw.toUpperCase() : kw.toLowerCase())) {
      warn(n, 'ConsistentInstructionCasing', `Command '${kw}' should match the case of the command majority (${majorityUpper ? 'uppercase' : 'lowercase'})`);
    }
    switch (n.keyword) {
      case 'from': {
        if (seenFrom) flushStage();
        seenFrom = true;
        stageWorkdirAbsolute = false;
        const asWord = n.original.trim().split(/\s+/).find((w, i, all) => i > 0 && w.toLowerCase() === 'as' && i === all.length - 2);
        if (asWord && (kw === kw.toUpperCase()) !== (asWord === asWord.toUpperCase())) warn(n, 'FromAsCasing', "'as' and 'FROM' keywords' casing do not match");
        const name = n.args[2];
        if (name !== undefined && name !== name.toLowerCase()) warn(n, 'StageNameCasing', `Stage name '${name}' should be lowercase`);
        if (name !== undefined && ['scratch', 'context'].includes(name.toLowerCase())) warn(n, 'ReservedStageName', `'${name.toLowerCase()}' is reserved and should not be used as a stage name`);
        for (const v of varsIn(n.args[0] ?? '')) if (!globalArgs.has(v) && !BUILTIN_ARGS.has(v)) warn(n, 'UndefinedArgInFrom', `FROM argument '${v}' is not declared`);
        const platform = n.flags.find((f) => f.startsWith('--platform='))?.slice('--platform='.length);
        if (platform !== undefined) {
          if (/^\$\{?TARGETPLATFORM\}?$/.test(platform)) warn(n, 'RedundantTargetPlatform', 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior');
          else if (!platform.includes('$')) warn(n, 'FromPlatformFlagConstDisallowed', `FROM --platform flag should not use constant value "${platform}"`);
        }
        break;
      }
      case 'arg':
        for (const a of n.args) {
          const name = a.split('=')[0]!;
          if (!seenFrom) globalArgs.add(name);
          if (looksSecret(name)) warn(n, 'SecretsUsedInArgOrEnv', `Do not use ARG or ENV instructions for sensitive data (ARG "${name}")`);
        }
        break;
      case 'env':
      case 'label': {
        const after = n.original.trim().slice(kw.length).trim();
        const first = after.split(/\s+/)[0] ?? '';
        if (after !== '' && !first.includes('=')) warn(n, 'LegacyKeyValueFormat', `"${n.keyword.toUpperCase()} key=value" should be used instead of legacy "${n.keyword.toUpperCase()} key value" format`);
        if (n.keyword === 'env') for (let i = 0; i < n.args.length; i += 3) if (n.args[i] && looksSecret(n.args[i]!)) warn(n, 'SecretsUsedInArgOrEnv', `Do not use ARG or ENV instructions for sensitive data (ENV "${n.args[i]}")`);
        break;
      }
      case 'cmd':
      case 'entrypoint':
        if (!n.json) warn(n, 'JSONArgsRecommended', `JSON arguments recommended for ${n.keyword.toUpperCase()} to prevent unintended behavior related to OS signals`);
        break;
      case 'maintainer':
        warn(n, 'MaintainerDeprecated', 'Maintainer instruction is deprecated in favor of using label');
        break;
      case 'workdir': {
        const dir = n.args[0] ?? '';
        if (dir.startsWith('/') || dir.startsWith('$')) stageWorkdirAbsolute = true;
        else if (!stageWorkdirAbsolute) warn(n, 'WorkdirRelativePath', `Relative workdir "${dir}" can have unexpected results if the base image changes`);
        break;
      }
    }
    if (ONE_PER_STAGE.has(n.keyword)) stageCounts.set(n.keyword, { count: (stageCounts.get(n.keyword)?.count ?? 0) + 1, last: n });
  }
  flushStage();
  const skip = parseSkip(parsed.directives.check);
  return out.filter((w) => !skip.has('all') && !skip.has(w.rule.toLowerCase())).sort((a, b) => a.line - b.line);
}

function parseSkip(directive: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of (directive ?? '').split(';')) {
    const [k, v] = part.split('=', 2).map((x) => x.trim());
    if (k === 'skip' && v) for (const r of v.split(',')) out.add(r.trim().toLowerCase());
  }
  return out;
}

/** Formats warnings as `docker build --check` prints them: rule, link, message, and the lines around. */
export function formatChecks(warnings: readonly CheckWarning[], text: string, file: string): string {
  if (warnings.length === 0) return 'Check complete, no warnings found.\n';
  const lines = text.replace(/\r?\n$/, '').split(/\r?\n/);
  const parts = [`Check complete, ${warnings.length} warning${warnings.length === 1 ? ' has' : 's have'} been found!\n`];
  for (const w of warnings) {
    const from = Math.max(1, w.line - 2);
    const to = Math.min(lines.length, w.endLine + 1);
    const excerpt: string[] = [];
    for (let i = from; i <= to; i++) {
      const mark = i >= w.line && i <= w.endLine ? '>>>' : '   ';
      excerpt.push(` ${String(i).padStart(3)} | ${mark} ${lines[i - 1] ?? ''}`.trimEnd());
    }
    parts.push(`WARNING: ${w.rule} - ${ruleUrl(w.rule)}\n${w.message}\n${file}:${w.line}\n--------------------\n${excerpt.join('\n')}\n--------------------\n`);
  }
  return parts.join('\n');
}
