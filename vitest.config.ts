import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/faults/**/*.test.ts'],
    setupFiles: ['test/harness/fast-check-seed.ts', 'test/harness/open-files-guard.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
