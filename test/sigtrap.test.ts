/**
 * A checkpoint's injected calls end with int3: the trap, with every signal of the task blocked,
 * is one the kernel forces, resetting a SIGTRAP handler (or SIG_IGN) to SIG_DFL. The helper
 * puts the task's SIGTRAP action back before its gadget goes (native/helper/checkpoint/gadget.c):
 * a process that runs on after its checkpoint, completed or failed, keeps it; a restart of the
 * image has it too.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, roundTrip, startCase, UCR, verdict } from './harness.js';

afterAll(cleanup);

describe('SIGTRAP action', () => {
  it('a handler (flags, mask) survives a checkpoint and a failed one, and the restart of the image', async () => {
    const c = await startCase('traphandler');
    checkpointCase(c, path.join(c.dir, 'img.ucr'));
    // a failure once the state is read (the gadget gone with it): the task runs on as it was
    const r = spawnSync(process.execPath, [UCR, 'checkpoint', String(c.pid), '-o', path.join(c.dir, 'img2.ucr')], {
      env: { ...process.env, UCR_FAULT: `dump-pages:${c.pid}` },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 60_000,
    });
    expect(r.status, r.stderr.toString()).toBe(1);
    expect(r.stderr.toString()).toMatch(/injected fault \(UCR_FAULT\)/);
    expect(await verdict(c)).toBe('PASS');
    expect((await roundTrip('traphandler')).verdict).toBe('PASS');
  });

  it('SIG_IGN survives a checkpoint', async () => {
    const c = await startCase('traphandler', { args: ['--ignore'] });
    checkpointCase(c, path.join(c.dir, 'img.ucr'));
    expect(await verdict(c)).toBe('PASS');
  });
});
