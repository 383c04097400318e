/**
 * node:child_process, loaded when first used: only action scripts and `inspect --verify` start
 * programs through it (the helper is started by the addon, src/kernel/helper.ts), and loading it
 * costs a command ~2 ms (docs/performance.md, "Fifteenth session").
 */
import { createRequire } from 'node:module';
import type * as ChildProcessModule from 'node:child_process';

let loaded: typeof ChildProcessModule | undefined;

export function childProcess(): typeof ChildProcessModule {
  return (loaded ??= createRequire(import.meta.url)('node:child_process') as typeof ChildProcessModule);
}
