import { defineConfig } from 'vitest/config';

// `npm test`: needs nothing but Node. Interop tests (Debian tools) live in test/interop.
export default defineConfig({
  test: {
    // dist/ is built first: tests that run bin/ocimake.js or import the package run the code under test.
    globalSetup: ['test/global-tmp.ts', 'test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    exclude: ['test/interop/**', 'node_modules/**'],
    // Two test files at a time even on two cores (vitest's default is cores - 1): most of the
    // suite waits on loopback sockets and the disk, and one worker left half the machine idle
    // (163 s against 104 s for the whole suite, measured on the 2-core CI machine).
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
