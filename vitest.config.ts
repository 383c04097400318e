import { execFileSync } from 'node:child_process';
import { defineConfig } from 'vitest/config';

// the TypeScript half of the protocol, generated from protocol/schema.mjs (tests run the sources)
execFileSync(process.execPath, ['scripts/gen-protocol.mjs'], { stdio: 'inherit' });

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
