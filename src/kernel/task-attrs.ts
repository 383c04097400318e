/**
 * A task's attributes as the checkpoint captures them (TaskAttrs, docs/restart.md "Process
 * attributes"): each thread's scheduling, time slice, clamps, personality and CPU affinity,
 * oom_score_adj, loginuid, membarrier registrations, mlockall and THP flags, the stop signal;
 * from what the helper read (dump_attrs.c) and the task's /proc files.
 */
import { UnsupportedError } from '../errors.js';
import type { TaskAttrs } from '../image/types.js';
import { threadAffinity } from './affinity.js';
import type { StateFacts } from './dump-task.js';
import type { ProcFile } from './proc-files.js';

const SCHED_DEADLINE = 6;

function cpusOf(proc: number, tid: number, list: string | undefined): { cpus?: number[] } {
  const cpus = threadAffinity(proc, tid, list);
  return cpus ? { cpus } : {};
}

/** Scheduling and personality of every thread, oom_score_adj, loginuid (from /proc), with
 * what the helper read (membarrier registrations, mlockall flags, sched_getattr). */
export function attrsOf(proc: number, a: StateFacts['attrs'], mainCpus: string | undefined, text: (f: ProcFile) => string): TaskAttrs {
  const one = (file: 'oom_score_adj' | 'loginuid') => text(file).trim();
  return {
    sched: a.sched.map(([tid, policy, flags, nice, priority, runtime, deadline, period, umin, umax, personality, cpus]) => ({
      tid,
      policy,
      flags: flags & 7,
      nice,
      priority,
      ...(policy === SCHED_DEADLINE ? { dl: [runtime, deadline, period] as [number, number, number] } : {}),
      // a fair thread's own time slice (the helper sends 0 for the default one)
      ...((policy === 0 || policy === 3) && runtime ? { slice: runtime } : {}),
      // set clamps only (CONFIG_UCLAMP_TASK; defaults 0 and 1024, or 0 0 without it)
      ...(umax && (umin !== 0 || umax !== 1024) ? { util: [umin, umax] as [number, number] } : {}),
      personality,
      // the thread /proc/PID/status describes: its list is read already; the others' the
      // helper read ("": read here)
      ...cpusOf(proc, tid, tid === proc ? mainCpus : cpus || undefined),
    })),
    oomScoreAdj: Number(one('oom_score_adj')),
    membarrier: a.membarrier,
    mlockall: a.mlockall,
    ...thpOf(proc, a.thp),
    loginuid: Number(one('loginuid')),
  };
}

/** prctl(PR_SET_THP_DISABLE) of the process: 1, or 3 with PR_THP_DISABLE_EXCEPT_ADVISED
 * (kernel 6.18); absent when off. */
function thpOf(proc: number, thp: number): { thp?: number } {
  if (thp !== 0 && thp !== 1 && thp !== 3) throw new UnsupportedError(`process ${proc}: prctl(PR_GET_THP_DISABLE) gives ${thp}, not a value ucr knows`, { pid: proc });
  return thp ? { thp } : {};
}

/** SIGTSTP, SIGTTIN, SIGTTOU: the signal a stopped process was stopped with, as its first stop
 * under the helper reported it (native/helper/checkpoint/freeze.c); SIGSTOP is the default. */
export function stopOf(sig: number): { stopSignal?: number } {
  return sig >= 20 && sig <= 22 ? { stopSignal: sig } : {};
}

/** The root directory when chroot() changed it (as this process sees it). */
