import { parseDockerfile } from './parse.js';
import { lineError, toInstruction, type Instruction } from './instructions.js';

export type FromInstruction = Extract<Instruction, { kind: 'from' }>;
export type ArgInstruction = Extract<Instruction, { kind: 'arg' }>;

/** One build stage: its FROM and the instructions after it. */
export interface Stage {
  index: number;
  name?: string;
  from: FromInstruction;
  instructions: Instruction[];
}

/** A Dockerfile split into global ARGs (before the first FROM) and stages. */
export interface DockerfilePlan {
  file: string;
  escape: string;
  globalArgs: ArgInstruction[];
  stages: Stage[];
}

/**
 * Parses a Dockerfile into global ARGs and stages. Only ARG may come before the first
 * FROM; stage names must be unique; there must be at least one stage.
 */
export function planDockerfile(text: string, file = 'Dockerfile'): DockerfilePlan {
  const parsed = parseDockerfile(text, { file });
  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const node of parsed.nodes) {
    const inst = toInstruction(node, file);
    if (inst.kind === 'from') {
      if (inst.name !== undefined) {
        if (names.has(inst.name)) throw lineError(file, inst.line, `duplicate stage name "${inst.name}"`, 'give each stage its own name');
        names.add(inst.name);
      }
      stages.push({ index: stages.length, ...(inst.name !== undefined ? { name: inst.name } : {}), from: inst, instructions: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (!current) {
      if (inst.kind === 'arg') { globalArgs.push(inst); continue; }
      throw lineError(file, inst.line, `${inst.kind.toUpperCase()} before the first FROM`, 'a Dockerfile must start with FROM (only ARG may come before it)');
    }
    current.instructions.push(inst);
  }
  if (stages.length === 0) throw lineError(file, 1, 'the Dockerfile has no FROM instruction', 'start it with e.g. "FROM scratch"');
  return { file, escape: parsed.escapeToken, globalArgs, stages };
}
