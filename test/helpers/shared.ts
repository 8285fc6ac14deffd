import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared real-world fixtures beside the repo (`../shared/fixtures`). */
export const SHARED_FIXTURES = join(fileURLToPath(new URL('../../..', import.meta.url)), 'shared', 'fixtures');

/** The path of a shared fixture; fails (never skips) with a clear message when it is missing. */
export function sharedFixture(rel: string): string {
  const p = join(SHARED_FIXTURES, rel);
  if (!existsSync(p)) {
    throw new Error(`missing shared fixture ${p}: this test reads real data from ../shared/fixtures beside the repository (see its README); clone the project with shared/ next to it`);
  }
  return p;
}
