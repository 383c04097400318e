/**
 * A checkpoint's injected calls end with int3, and some are single-stepped; a restart's end
 * with int3. Each of those traps is a SIGTRAP the kernel forces on the task, which resets an
 * ignored SIGTRAP (and, when the thread blocks SIGTRAP, a handler) to SIG_DFL. The checkpoint
 * puts the task's SIGTRAP action back before its gadget goes (native/helper/checkpoint/gadget.c):
 * a process that runs on after its checkpoint, completed, failed or abandoned, keeps it; the
 * restart sets it last, after its last trap (finish_early.c's finish_trap). A pending SIGTRAP,
 * which a trap would take, is taken out before the checkpoint's first trap and queued again
 * after its last (trap_pending.c), and queued by the restart after its last. The case checks
 * every action, each thread's mask and pending signals, and what raise(SIGTRAP) does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ucrWithFault } from './fault-run.js';
import { checkpointCase, cleanup, killAndWait, restartDetached, startCase, startTime, ucr, verdict, waitFor, type Case } from './harness.js';
import { helperPids } from './leftovers.js';

afterAll(cleanup);

function withFault(c: Case, fault: string, action: 'fail' | 'sigkill' | 'sigint'): void {
  const r = ucrWithFault(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'failed.ucr')], fault, action);
  if (action === 'sigkill') expect(r.signal, `${fault}: ${r.stderr}`).toBe('SIGKILL');
  else if (action === 'sigint') {
    expect(r.code, `${fault}: ${r.stderr}`).toBe(130);
    expect(r.stderr).toBe(`ucr: checkpoint of process ${c.pid} aborted\n`);
  } else {
    expect(r.code, `${fault}: ${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(/injected fault \(UCR_FAULT\)/);
  }
}

/** Checkpoint (and failed checkpoints at the given points), kill, restart, verdict. */
async function round(args: string[], faults: string[] = []): Promise<string> {
  const c = await startCase('traphandler', { args });
  for (const f of faults)
    for (const action of ['fail', 'sigkill', 'sigint'] as const) {
      withFault(c, `${f}:${c.pid}`, action);
      await waitFor(() => helperPids().length === 0, 20_000, `${f} (${action}): the helper to exit`);
      const status = fs.readFileSync(`/proc/${c.pid}/status`, 'latin1');
      const bit = (line: string) => (BigInt(`0x${status.match(new RegExp(`${line}:\\s*([0-9a-f]+)`))![1]}`) >> 4n) & 1n;
      expect([bit('SigIgn'), bit('SigCgt')], `${args.join(' ')}: ${f} (${action}): SIGTRAP`).toEqual(
        args.includes('--ignore') ? [1n, 0n] : args.includes('--default') ? [0n, 0n] : [0n, 1n],
      );
    }
  const img = path.join(c.dir, 'img.ucr');
  const before = startTime(c.pid);
  checkpointCase(c, img);
  await killAndWait(c.pid);
  restartDetached(img);
  expect(startTime(c.pid)).not.toBe(before);
  return verdict(c);
}

describe('SIGTRAP action', () => {
  it('a handler (flags, mask) survives a checkpoint and a failed one, and the restart of the image', async () => {
    const c = await startCase('traphandler');
    checkpointCase(c, path.join(c.dir, 'img.ucr'));
    withFault(c, `dump-pages:${c.pid}`, 'fail'); // the state read, the gadget gone with it
    expect(await verdict(c)).toBe('PASS');
    expect(await round([])).toBe('PASS');
  });

  it('SIG_IGN survives a checkpoint, and comes back at a restart (the case raises SIGTRAP: ignored)', async () => {
    const c = await startCase('traphandler', { args: ['--ignore'] });
    checkpointCase(c, path.join(c.dir, 'img.ucr'));
    expect(await verdict(c)).toBe('PASS');
    expect(await round(['--ignore'])).toBe('PASS');
  });

  it('SIG_IGN, a handler and the default survive a checkpoint that fails, whose ucr is killed or aborted by Ctrl-C (gadget mapped, state read, threads read, pages), then a restart', async () => {
    for (const mode of [['--ignore'], [], ['--default']])
      for (const block of [[], ['--block']])
        expect(await round([...mode, ...block, '--threads', '2'], ['inject', 'state-thread', 'dump-pages']), [...mode, ...block].join(' ')).toBe('PASS');
  });

  it('with threads and SIGTRAP blocked (in the main thread and every other one): every action, mask and pending signal comes back', async () => {
    for (const mode of [['--ignore'], [], ['--default']])
      for (const more of [['--threads', '3'], ['--threads', '4', '--block'], ['--block']])
        expect(await round([...mode, ...more]), [...mode, ...more].join(' ')).toBe('PASS');
  });

  it('a pending SIGTRAP (of the main thread, the process or another thread) stays pending through a checkpoint, a failed one and a restart, with its siginfo', async () => {
    for (const [pending, mode] of [['main', []], ['shared', ['--ignore']], ['thread', ['--threads', '2']], ['main', ['--default', '--threads', '1']]] as const) {
      const args = [...mode, '--block', '--pending', pending];
      const c = await startCase('traphandler', { args });
      checkpointCase(c, path.join(c.dir, 'img.ucr'));
      expect(await verdict(c), `${args.join(' ')}: after a checkpoint`).toBe('PASS');
      expect(await round(args, ['inject', 'dump-pages']), args.join(' ')).toBe('PASS');
    }
  });

  it('a pending SIGTRAP of a process whose main thread has exited is refused at checkpoint with one line; the process keeps it', async () => {
    const c = await startCase('leader_exit', { args: ['--trap'] });
    const r = ucr(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'img.ucr'), '--kill']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe(`ucr: process ${c.pid}: state: signals: a SIGTRAP is pending for a process whose main thread has exited: not supported\n`);
    await waitFor(() => helperPids().length === 0, 20_000, 'the helper to exit');
    expect(await verdict(c)).toBe('PASS');
  });
});
