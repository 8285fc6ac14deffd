import { defineConfig } from 'vitest/config';

// `npm test`: needs nothing but Node. Interop tests (Debian tools) live in test/interop.
export default defineConfig({
  test: {
    globalSetup: ['test/global-tmp.ts'],
    include: ['test/**/*.test.ts'],
    exclude: ['test/interop/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
