/**
 * A script run by a Node process of its own (the addon's tests: what the addon does to a
 * process, its fds and its event loop stays out of the test runner's), and the native addon's
 * path for it to load.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './harness.js';

export const ADDON = path.join(ROOT, 'build', 'Release', 'ucr_native.node');

/** Runs code with node (after flags); it must exit 0 and print one JSON value, returned. */
export function inNode(code: string, flags: string[] = []): Record<string, unknown> {
  const r = spawnSync(process.execPath, [...flags, '-e', code], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}
