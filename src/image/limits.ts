/**
 * The running system's limits an image must fit before a restart creates anything: pids below
 * kernel.pid_max (pids are created as they were; threads always keep their tids), and fd numbers
 * that the restorer can open (its RLIMIT_NOFILE, which the helper raises to what the image needs:
 * up to the hard limit, or up to fs.nr_open when it may raise the hard limit too; the helper's
 * own fds fit below a far-up fd, native/helper/restore/restore_files.c). Each refusal names the record
 * and the field.
 */
import fs from 'node:fs';
import { ImageError } from '../errors.js';
import type { ImageMetadata } from './types.js';
import { fdRows } from './task-compact.js';

function readNumber(file: string, fallback: number): number {
  try {
    const n = Number(fs.readFileSync(file, 'latin1').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

/** This process's RLIMIT_NOFILE hard limit (the helper it starts inherits it). */
function nofileHard(): number {
  try {
    const m = /^Max open files\s+\S+\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'latin1'));
    return m?.[1] === 'unlimited' ? 1 << 20 : Number(m?.[1] ?? 1024);
  } catch {
    return 1024;
  }
}

/** May this process raise a hard limit (CAP_SYS_RESOURCE in its effective set)? */
function mayRaiseHardLimits(): boolean {
  try {
    const m = /^CapEff:\s+([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
    return m !== null && (BigInt('0x' + m[1]) & (1n << 24n)) !== 0n; // CAP_SYS_RESOURCE
  } catch {
    return false;
  }
}

export interface SystemLimits {
  /** kernel.pid_max: every pid is below it */
  pidMax: number;
  /** the highest RLIMIT_NOFILE the restorer can reach, and what sets it */
  nofile: number;
  nofileName: string;
}

export function systemLimits(): SystemLimits {
  const hard = nofileHard();
  const nrOpen = readNumber('/proc/sys/fs/nr_open', 1 << 20);
  const raise = mayRaiseHardLimits() && nrOpen > hard;
  return {
    pidMax: readNumber('/proc/sys/kernel/pid_max', 32768),
    nofile: raise ? nrOpen : hard,
    nofileName: raise ? `fs.nr_open ${nrOpen}` : `the restorer's RLIMIT_NOFILE hard limit ${hard}`,
  };
}

/**
 * The image's pids as they will be created (newPid: the pid for an image pid, 0 for any free
 * one) and its fds fit this system. Throws ImageError naming the field.
 */
export function checkSystemLimits(meta: ImageMetadata, newPid: (old: number) => number, lim = systemLimits()): void {
  meta.tree.tasks.forEach((t, i) => {
    const p = newPid(t.pid);
    if (p >= lim.pidMax)
      throw new ImageError(`TREE.tasks[${i}].pid: pid ${p} is not below this system's kernel.pid_max ${lim.pidMax}`, { pid: t.pid, phase: 'check' });
  });
  let maxFd = -1;
  let where = '';
  for (const t of meta.tasks) {
    t.threads.forEach((th, k) => {
      if (th.tid >= lim.pidMax)
        throw new ImageError(`TASK ${t.pid}.threads[${k}].tid: ${th.tid} is not below this system's kernel.pid_max ${lim.pidMax} (a thread keeps its tid)`, { pid: t.pid, phase: 'check' });
    });
    const rows = fdRows(t);
    const last = rows.length / 3 - 1; // sorted
    if (last >= 0 && rows[3 * last]! > maxFd) {
      maxFd = rows[3 * last]!;
      where = `TASK ${t.pid}.fds[${last}].fd`;
    }
  }
  if (maxFd >= lim.nofile)
    throw new ImageError(`${where}: fd ${maxFd} is not below ${lim.nofileName}`, { phase: 'check', code: 'ELIMIT' });
}
