/**
 * CPU affinity per thread (sched_setaffinity; docs/restart.md "CPU affinity"). Checkpoint records
 * a thread's mask (Cpus_allowed_list of /proc/PID/task/TID/status) when it is narrower than every
 * CPU of the machine. Restart on a machine without some of those CPUs restores the CPUs it has,
 * with a warning; when none of them is online it refuses with one line.
 */
import fs from 'node:fs';
import { UnsupportedError } from '../errors.js';
import { MAX_CPUS } from '../image/validate-attrs.js';
import type { TaskImage } from '../image/types.js';

/** "0-3,8,10-11" -> [0,1,2,3,8,10,11] (bounded to MAX_CPUS) */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',').filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    const lo = Number(m[1]), hi = Math.min(Number(m[2] ?? m[1]), MAX_CPUS - 1);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** [0,1,2,5] -> "0-2,5" */
export function cpuListText(cpus: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

function sysCpus(which: 'possible' | 'online'): number[] {
  try {
    return parseCpuList(fs.readFileSync(`/sys/devices/system/cpu/${which}`, 'latin1'));
  } catch {
    return [];
  }
}

let possible: number[] | undefined;

/** A thread's affinity, or undefined when it may run on every possible CPU (or is unreadable). */
export function threadAffinity(proc: number, tid: number): number[] | undefined {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${proc}/task/${tid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status);
  if (!m) return undefined;
  const cpus = parseCpuList(m[1]!);
  const all = (possible ??= sysCpus('possible')); // read once, not once per thread
  return cpus.length === 0 || (all.length > 0 && all.every((c) => cpus.includes(c))) ? undefined : cpus;
}

/** The CPUs of an affinity this machine has online (all of them when it cannot tell). */
export function onlineOf(cpus: number[], online = sysCpus('online')): number[] {
  return online.length ? cpus.filter((c) => online.includes(c)) : cpus;
}

/** Restart check: a warning per thread that loses CPUs; a thread left without any is refused. */
export function checkAffinity(tasks: TaskImage[]): string[] {
  const online = sysCpus('online');
  const w: string[] = [];
  for (const t of tasks)
    for (const s of t.attrs?.sched ?? []) {
      if (!s.cpus) continue;
      const keep = onlineOf(s.cpus, online);
      if (keep.length === 0)
        throw new UnsupportedError(`process ${t.pid}: thread ${s.tid}: its CPU affinity (CPUs ${cpuListText(s.cpus)}) has no CPU online on this machine (${cpuListText(online)})`, { pid: t.pid });
      if (keep.length < s.cpus.length)
        w.push(`process ${t.pid}: thread ${s.tid}: CPU affinity ${cpuListText(s.cpus)} restored as ${cpuListText(keep)} (the others are not online here)`);
    }
  return w;
}
