/**
 * When timers resume after a restart, which may come long after the checkpoint.
 *   relative (default): the time that was left counts from the restart.
 *   absolute: deadlines are kept in wall time; a timer that should have fired meanwhile fires
 *             at once (then goes on with its interval).
 * Only wall-clock timers follow the absolute policy: ITIMER_REAL and POSIX timers on
 * CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME (and their alarm variants); CPU-time timers
 * (ITIMER_VIRTUAL, ITIMER_PROF, CPU clocks) count the task's own running time either way.
 */
import { taskWith } from '../image/task-compact.js';
import type { TaskImage } from '../image/types.js';

export type TimerPolicy = 'relative' | 'absolute';

/** CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM: a timer on them needs CAP_WAKE_ALARM */
export const ALARM_CLOCKS = new Set([8, 9]);
const WALL_CLOCKS = new Set([0, 1, 7, 8, 9]); // REALTIME, MONOTONIC, BOOTTIME, *_ALARM

/** [s, sub] with sub in units of 1/scale s, minus elapsedMs; at least one unit when armed. */
function shorten(s: number, sub: number, scale: number, elapsedMs: number): [number, number] {
  if (s === 0 && sub === 0) return [0, 0]; // disarmed stays disarmed
  const left = s * scale + sub - Math.round((elapsedMs * scale) / 1000);
  if (left <= 0) return [0, 1];
  return [Math.floor(left / scale), left % scale];
}

export function applyTimerPolicy(t: TaskImage, policy: TimerPolicy, elapsedMs: number): TaskImage {
  if (policy === 'relative' || elapsedMs <= 0) return t;
  // ITIMER_REAL only; a disarmed one leaves the list as it is (the reader gives a forked child
  // its parent's list when equal, whose plan lines are then made once: restore-plan.ts)
  const real = t.itimers[0];
  const itimers = real && (real[2] || real[3]) ? [[real[0]!, real[1]!, ...shorten(real[2]!, real[3]!, 1e6, elapsedMs)], ...t.itimers.slice(1)] : t.itimers;
  const posixTimers = t.posixTimers.map((pt) =>
    WALL_CLOCKS.has(pt.clock) && (pt.value[0] || pt.value[1]) ? { ...pt, value: shorten(pt.value[0], pt.value[1], 1e9, elapsedMs) } : pt,
  );
  if (itimers === t.itimers && posixTimers.every((pt, i) => pt === t.posixTimers[i])) return t;
  // a copy with the reader's compact forms (not { ...t }: task-compact.ts, taskWith)
  return taskWith(t, { itimers, posixTimers });
}
