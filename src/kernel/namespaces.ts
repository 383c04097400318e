/**
 * Namespaces a restart does not make again, compared at checkpoint with ucr's own. A task in a
 * cgroup namespace of its own would come back in the restarting ucr's, where /proc/PID/cgroup,
 * its cgroup mounts and setns to it name other paths (zdtm cgroupns: a later open of another
 * task's namespace file fails): refused at checkpoint, naming the process. One readlink per
 * process; a thread's own cgroup namespace (unshare in a thread) is not looked at.
 */
import { UnsupportedError } from '../errors.js';
import { readLink } from './proc.js';

/** pids: [pid in the image, pid as ucr sees it] of every live task. */
export function refuseOwnCgroupNs(pids: Iterable<[number, number]>): void {
  let mine: string;
  try {
    mine = readLink('/proc/self/ns/cgroup');
  } catch {
    return; // a kernel without cgroup namespaces
  }
  for (const [pid, proc] of pids) {
    let ns: string;
    try {
      ns = readLink(`/proc/${proc}/ns/cgroup`);
    } catch {
      continue; // ended since (a zombie has no namespaces): the capture has what it needs
    }
    if (ns !== mine)
      throw new UnsupportedError(`process ${pid} is in a cgroup namespace of its own (${ns}; ucr's is ${mine}): a restart would not make it again: not supported`, { pid, phase: 'capture' });
  }
}
