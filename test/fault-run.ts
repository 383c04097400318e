/** Running ucr with a fault injected (UCR_FAULT, src/fault.ts), for the fault tests. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { expect } from 'vitest';
import { UCR } from './harness.js';

export interface Run {
  code: number | null;
  signal: string | null;
  stderr: string;
}

export function ucrWithFault(args: string[], fault: string, action: 'fail' | 'sigkill' | 'sigint' = 'fail'): Run {
  // Node's spawnSync honours detached (setsid) though its types leave it out
  const options: SpawnSyncOptions & { detached: boolean } = {
    env: { ...process.env, UCR_FAULT: fault, UCR_FAULT_ACTION: action },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true, // its own process group: 'sigint' signals that group (a terminal's Ctrl-C)
    timeout: 60_000,
  };
  const r = spawnSync(process.execPath, [UCR, ...args], options);
  return { code: r.status, signal: r.signal, stderr: r.stderr.toString() };
}

export function expectInjected(r: Run, what: string): void {
  expect(r.code, `${what}: ${r.stderr}`).toBe(1);
  expect(r.stderr.trim().split('\n'), `${what}: one line`).toHaveLength(1);
  expect(r.stderr, what).toMatch(/^ucr: .*injected fault \(UCR_FAULT\)/);
}
