import { GOLDEN_CASES, type GoldenCase } from './cases.js';

// How a golden case runs, the same on both sides: in its own empty directory /g, in a subshell
// whose stdout goes to /o and whose exit status goes to /status (stderr is not compared:
// busybox's wording is not a contract).

export interface GoldenResult { stdout: string; status: number; files: Record<string, string> }

export function wrapCase(c: GoldenCase): string {
  return `mkdir -p /g && cd /g && (\n${c.script}\n) > /o 2>/dev/null; echo $? > /status\n`;
}

/** A file under /g as the corpus records it: `d MODE`, `l TARGET` or `f MODE CONTENT`. */
export function describeEntry(type: 'file' | 'directory' | 'symlink', mode: number, content: string): string {
  const m = (mode & 0o7777).toString(8);
  return type === 'directory' ? `d ${m}` : type === 'symlink' ? `l ${content}` : `f ${m} ${content}`;
}

export const casesByName = new Map(GOLDEN_CASES.map((c) => [c.name, c]));
