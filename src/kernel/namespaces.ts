/**
 * Namespaces a restart does not make again, compared at checkpoint with ucr's own. A task in a
 * cgroup namespace of its own would come back in the restarting ucr's, where /proc/PID/cgroup,
 * its cgroup mounts and setns to it name other paths (zdtm cgroupns: a later open of another
 * task's namespace file fails): refused at checkpoint, naming the process, or the thread (a
 * thread may unshare its own). Both links are read by the helper with the task's state: the
 * process's with its other /proc files, and for a process with several threads each other
 * thread's, compared there with the process's in its per-thread loop (one readlink each, 3-4 us
 * on a first read; dump_procfs.c procfs_threads_apart), which sends the first that differs;
 * both checked here as the capture adds the task (kernel/cgroups.ts CgroupCapture).
 */
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

/** A live process (its pid in the image) in cgroup namespace ns, and thread: the first of its
 * other threads in another one than the process's, its tid as ucr sees it and its link (none:
 * every thread in the process's, or a kernel without cgroup namespaces). Refused unless all are
 * ucr's: the process's first, so a thread's differs from ucr's when it is named. */
export function refuseOwnCgroupNs(pid: number, ns: string, thread: [number, string] | undefined): void {
  const mine = ownCgroupNs();
  if (ns !== mine) throw cgroupNsRefusal(`process ${pid}`, pid, ns, mine);
  if (thread) throw cgroupNsRefusal(`thread ${thread[0]} of process ${pid}`, pid, thread[1], mine);
}
