/**
 * Namespaces a restart does not make again, compared at checkpoint with ucr's own. A task in a
 * cgroup namespace of its own would come back in the restarting ucr's, where /proc/PID/cgroup,
 * its cgroup mounts and setns to it name other paths (zdtm cgroupns: a later open of another
 * task's namespace file fails): refused at checkpoint, naming the process. A process's own is
 * read by the helper with its state (kernel/cgroups.ts CgroupCapture); here one readlink per
 * thread of a process that has several (a thread may unshare its own: about 2 us each, 4 ms for
 * 2,000 threads).
 */
import fs from 'node:fs';
import { UnsupportedError } from '../errors.js';
import { readLink } from './proc.js';

/** The refusal of a process or thread (who) in cgroup namespace ns, ucr's being mine. */
export function cgroupNsRefusal(who: string, pid: number, ns: string, mine: string): UnsupportedError {
  return new UnsupportedError(`${who} is in a cgroup namespace of its own (${ns}; ucr's is ${mine}): a restart would not make it again: not supported`, { pid, phase: 'capture' });
}

let mineCache: string | undefined;

/** ucr's own cgroup namespace link ('': a kernel without cgroup namespaces), read once. */
export function ownCgroupNs(): string {
  if (mineCache === undefined) {
    try {
      mineCache = readLink('/proc/self/ns/cgroup');
    } catch {
      mineCache = '';
    }
  }
  return mineCache;
}

/** tasks: each live process's pid in the image, its pid as ucr sees it, and whether it has
 * other threads; the processes themselves were checked in the capture. */
export function refuseOwnCgroupNs(tasks: Iterable<{ pid: number; proc: number; threads: boolean }>): void {
  const mine = ownCgroupNs();
  if (!mine) return; // a kernel without cgroup namespaces
  const nsOf = (p: string) => {
    try {
      return readLink(`${p}/ns/cgroup`);
    } catch {
      return mine; // ended since (a zombie has no namespaces): the capture has what it needs
    }
  };
  for (const { pid, proc, threads } of tasks) {
    if (!threads) continue;
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${proc}/task`);
    } catch {
      /* gone */
    }
    for (const tid of tids) {
      if (tid === String(proc)) continue; // the process's own: read with its state
      const ns = nsOf(`/proc/${proc}/task/${tid}`);
      if (ns !== mine) throw cgroupNsRefusal(`thread ${tid} of process ${pid}`, pid, ns, mine);
    }
  }
}
