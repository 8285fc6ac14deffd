import dockerignore, { type Ignore } from '@balena/dockerignore';
import { OcimakeError } from '../errors.js';
import type { Instruction } from '../dockerfile/instructions.js';
import { expandWord, type VarMap } from '../dockerfile/shell-lex.js';

type MakeIgnore = (opts?: { ignorecase?: boolean }) => Ignore;
const di = dockerignore as unknown as MakeIgnore & { default?: MakeIgnore };
const makeIgnore: MakeIgnore = di.default ?? di;

type CopyInstruction = Extract<Instruction, { kind: 'copy' | 'add' }>;

/**
 * `COPY --exclude=PATTERN` (Dockerfile 1.7): a path relative to what is copied (a source
 * directory's contents, or a matched file's path in the context) is left out when a pattern
 * matches it, with .dockerignore's matching rules (`*.key` at the top, `**\/*.key` anywhere;
 * an excluded directory takes its contents with it). Undefined when there is no pattern.
 */
export function excludeMatcher(inst: CopyInstruction, env: VarMap, escape: string): ((rel: string) => boolean) | undefined {
  if (inst.exclude.length === 0) return undefined;
  const patterns = inst.exclude.map((p) => expandWord(p, env, escape));
  if (patterns.some((p) => p.startsWith('!'))) {
    throw new OcimakeError('DOCKERFILE_INVALID', '--exclude patterns cannot start with "!"', { hint: 'list what to leave out; everything else is copied' });
  }
  const ig = makeIgnore({ ignorecase: false }).add(patterns);
  return (rel) => rel !== '' && ig.ignores(rel.replace(/^\/+/, ''));
}

/**
 * Refuses the COPY/ADD flags ocimake does not implement, rather than accepting and ignoring
 * them: ADD --keep-git-dir applies to git sources, which ADD does not support yet;
 * `--parents` with a `/./` pivot is not supported. (ADD --checksum is checked by planCopy,
 * once the sources are expanded: it applies to URLs only.)
 */
export function refuseUnsupportedFlags(inst: CopyInstruction): void {
  if (inst.keepGitDir !== undefined) {
    throw new OcimakeError('UNSUPPORTED', 'ADD --keep-git-dir applies to git sources, which ocimake does not fetch yet', { hint: 'clone the repository into the context and COPY it' });
  }
  if (inst.parents && inst.sources.some((s) => /(^|\/)\.\/./.test(s.replace(/^\.\//, '')))) {
    throw new OcimakeError('UNSUPPORTED', 'COPY --parents with a "/./" pivot is not supported yet', { hint: 'copy from the directory the kept path should start at' });
  }
}
