/**
 * restart --timers=absolute (kernel/timers.ts: applyTimerPolicy) on a task as the reader gives
 * it: its fds and XSAVE area kept compact (image/task-compact.ts), its mappings packed
 * (image/packed-task.ts). The plan is made from the task the policy returns: it must keep those
 * forms (the plan reads them, and makes the lines of equal fd tables once, by their object).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, startCase, verdict } from './harness.js';
import { readMetadata } from '../src/image/reader.js';
import { packedRunsOf, packedVmasOf } from '../src/image/packed-task.js';
import { fdRows, xstateParts } from '../src/image/task-compact.js';
import type { PosixTimer } from '../src/image/types.js';
import { applyTimerPolicy } from '../src/kernel/timers.js';

afterEach(cleanup);

describe('--timers=absolute', () => {
  it("shortens a task's wall-clock timers by the time since the checkpoint, and the task keeps the reader's compact forms (fd rows, XSAVE area, packed mappings)", async () => {
    // manymaps: a task whose mappings the image packs (format 1.6)
    const c = await startCase('manymaps');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    expect(await verdict(c)).toBe('PASS');
    const fd = fs.openSync(img, 'r');
    try {
      const { meta } = readMetadata(fd, img);
      const t = meta.tasks.find((x) => packedVmasOf(x))!;
      expect(t).toBeDefined();
      // its timers (it has none armed): ITIMER_REAL 5 s; POSIX timers on CLOCK_MONOTONIC 2.5 s,
      // on CLOCK_REALTIME disarmed, on CLOCK_PROCESS_CPUTIME_ID 2.5 s (CPU time: left alone)
      const timer = (id: number, clock: number, value: [number, number]): PosixTimer => ({ id, clock, notify: 'none', signo: 0, sigval: 0, tid: t.pid, interval: [0, 0], value });
      t.itimers = [[0, 0, 5, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
      t.posixTimers = [timer(0, 1, [2, 500_000_000]), timer(1, 0, [0, 0]), timer(2, 2, [2, 500_000_000])];
      const rows = fdRows(t);
      const xs = xstateParts(t);
      const vmas = packedVmasOf(t);
      const runs = packedRunsOf(t)!;
      expect(rows.length).toBeGreaterThan(0);
      expect(runs).toBeDefined();

      const a = applyTimerPolicy(t, 'absolute', 1500);
      expect(a.itimers).toEqual([[0, 0, 3, 500_000], [0, 0, 0, 0], [0, 0, 0, 0]]);
      expect(a.posixTimers.map((p) => p.value)).toEqual([[1, 0], [0, 0], [2, 500_000_000]]);
      // the reader's forms themselves, on the task the plan is made from and on the image's task
      for (const x of [a, t]) {
        expect(fdRows(x)).toBe(rows);
        expect(xstateParts(x)).toBe(xs);
        expect(packedVmasOf(x)).toBe(vmas);
        expect(packedRunsOf(x)).toBe(runs);
      }
      // the image's task as it was read
      expect(t.itimers[0]).toEqual([0, 0, 5, 0]);
      expect(t.posixTimers[0]!.value).toEqual([2, 500_000_000]);
      // and the same values when read whole
      expect(a.fds).toEqual(t.fds);
      expect(a.xstate).toEqual(t.xstate);
      expect(a.vmas).toEqual(t.vmas);
      expect(a.pageRuns).toEqual(t.pageRuns);
      expect({ ...a, itimers: t.itimers, posixTimers: t.posixTimers }).toEqual({ ...t });

      // with nothing armed on a wall clock: the task itself
      t.itimers = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
      t.posixTimers = [timer(2, 2, [2, 500_000_000])];
      expect(applyTimerPolicy(t, 'absolute', 1500)).toBe(t);
    } finally {
      fs.closeSync(fd);
    }
  });
});
