import { defineConfig } from 'vitest/config';

// Test files run one at a time: pids, ptrace and SysV ids are machine-wide.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
