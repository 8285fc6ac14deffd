import { readFileSync } from 'node:fs';

/** The package version, read from package.json. */
export function version(): string {
  // src/cli/main.ts and dist/src/cli/main.js sit at different depths below package.json.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'ocimake') return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return '0.0.0';
}
