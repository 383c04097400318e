/**
 * C/R-aware programs: an opt-in notification signal (--notify-signal). A task is notified only
 * when it catches that signal (has a handler), so a program that does not know about ucr is
 * never disturbed. The signal comes through sigqueue() (si_code SI_QUEUE) with
 * si_value.sival_int telling why:
 *   NOTIFY_CHECKPOINT (1)  a checkpoint is about to freeze you; sent to every task of the tree
 *                          before it is frozen; ucr waits until each task has taken the signal
 *                          (it no longer is pending; at most NOTIFY_WAIT_MS) but not for its
 *                          handler to finish: it is frozen (and saved) wherever it is.
 *   NOTIFY_RESTARTED  (2)  you were restarted; sent to every live task once all of them run.
 */
import fs from 'node:fs';
import { native } from '../native/addon.js';

export const NOTIFY_CHECKPOINT = 1;
export const NOTIFY_RESTARTED = 2;
export const NOTIFY_WAIT_MS = 2000;

function statusMask(pid: number, field: string): bigint {
  try {
    const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? BigInt('0x' + m[1]) : 0n;
  } catch {
    return 0n;
  }
}

const bit = (sig: number) => 1n << BigInt(sig - 1);

/** The process has a handler for sig (SigCgt). */
export function catches(pid: number, sig: number): boolean {
  return (statusMask(pid, 'SigCgt') & bit(sig)) !== 0n;
}

/** Queues the notification; a task that vanished meanwhile is skipped. Returns whether sent. */
export function notify(pid: number, sig: number, why: number): boolean {
  try {
    native().sigqueue(pid, sig, why);
    return true;
  } catch {
    return false;
  }
}

/** Notifies every task that catches sig, then waits until each has taken it. */
export async function notifyBeforeCheckpoint(pids: number[], sig: number, waitMs = NOTIFY_WAIT_MS): Promise<number[]> {
  const sent = pids.filter((p) => catches(p, sig) && notify(p, sig, NOTIFY_CHECKPOINT));
  const deadline = Date.now() + waitMs;
  for (const p of sent)
    while ((statusMask(p, 'ShdPnd') & bit(sig)) !== 0n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  return sent;
}
