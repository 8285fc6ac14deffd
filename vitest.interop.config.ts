import { defineConfig } from 'vitest/config';

// `npm run test:interop`: real registries and independent judges (docker-registry, skopeo, umoci, go).
export default defineConfig({
  test: {
    globalSetup: ['test/global-tmp.ts', 'test/global-setup.ts'],
    include: ['test/interop/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
