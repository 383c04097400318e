/**
 * The addon's exitNow (the end of a checkpoint or restart, src/cli/run.ts): the process ends
 * with the status given, at once: no 'exit' event, nothing of Node's teardown runs; what was
 * written before is there.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './harness.js';

const ADDON = path.join(ROOT, 'build', 'Release', 'ucr_native.node');

describe('exitNow', () => {
  it('exits with the status given, after what was written and without the exit event', () => {
    const code = `
      const m = { exports: {} };
      process.dlopen(m, ${JSON.stringify(ADDON)});
      process.on('exit', () => process.stdout.write('exit event\\n'));
      process.stdout.write('written\\n');
      process.stderr.write('to stderr\\n');
      m.exports.exitNow(7);
      process.stdout.write('after\\n');`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    expect(r.status).toBe(7);
    expect(r.stdout).toBe('written\n');
    expect(r.stderr).toBe('to stderr\n');
  });
});
