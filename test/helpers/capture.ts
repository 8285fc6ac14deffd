import { vi } from 'vitest';

/** Runs `fn` with process.stdout/stderr captured (nothing reaches the test log); returns what it wrote. */
export async function captured<T>(fn: () => Promise<T>): Promise<{ value: T; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { stdout += String(s); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { stderr += String(s); return true; });
  try {
    return { value: await fn(), stdout, stderr };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
