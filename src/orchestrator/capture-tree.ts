/** The checkpoint's capture of a frozen tree, task after task (checkpoint.ts). */
import type fs from 'node:fs';
import type { PhaseClock } from '../events.js';
import type { TaskImage, TreeEntry } from '../image/types.js';
import { captureTask, procPidOf, requestState, type Captured, type StateRequest } from '../kernel/dump-task.js';
import { collectRuns } from '../kernel/scan-runs.js';
import { FdPrefetch } from '../kernel/fd-prefetch.js';
import { FrameParts } from '../kernel/frame-parts.js';
import type { Helper } from '../kernel/helper.js';
import { readProcText, readStat } from '../kernel/proc.js';
import { CgroupCapture } from '../kernel/cgroups.js';

/** Tasks whose state is asked of the helper ahead of the one being captured. */
const STATE_AHEAD = 32;

/**
 * Every task of the freeze's order captured (zombies as tree entries), then their page scans.
 * Each task's state is asked for STATE_AHEAD tasks ahead of its capture (not all at once: the
 * answers, registers and xstate of every task, would wait in the queue): the helper works on
 * the next tasks while each one's /proc files are read here. The fd tables of the files phase
 * are scanned on worker threads from the start (fd-prefetch.ts).
 */
export async function captureTree(
  helper: Helper,
  order: { pid: number; state: string; parent?: number; tid?: number }[],
  clock: PhaseClock,
  ignore: Iterable<number> = [],
): Promise<{ entries: TreeEntry[]; tasks: TaskImage[]; procPids: Map<number, number>; prefetch: FdPrefetch; cgroups: CgroupCapture }> {
  const entries: TreeEntry[] = [];
  const tasks: TaskImage[] = [];
  const procPids = new Map<number, number>();
  // the thread whose /proc files stand for a task: its main thread when the helper froze it
  // (stopped, it stays), else procPidOf's pick
  const live: { pid: number; parent?: number; procPid?: number }[] = order
    .filter((o) => o.state !== 'Z')
    .map(({ pid, parent, tid }) => (tid === pid ? { pid, parent, procPid: pid } : { pid, parent }));
  const requests = new Map<number, StateRequest>();
  let asked = 0;
  // state commands not sent yet: each task's go out with the page scans of the task captured
  // before it (one write to the helper per task, not two)
  const pending: string[] = [];
  const askAhead = (upTo: number) => {
    for (; asked < Math.min(live.length, upTo); asked++) {
      const t = live[asked]!;
      if (!('procPid' in t)) t.procPid = procPidOf(t.pid);
      requests.set(t.pid, requestState(helper, t.pid, t.procPid, pending));
    }
  };
  // the first states asked before anything else is read here (in one write): the helper
  // starts on them
  askAhead(STATE_AHEAD);
  helper.sendLines(pending.splice(0));
  for (const t of live.slice(asked)) if (!('procPid' in t)) t.procPid = procPidOf(t.pid);
  const procPidNow = new Map(live.map((o) => [o.pid, o.procPid]));
  // each fd compared (kcmp) with its parent's fd of the same number
  const prefetch = new FdPrefetch(live.flatMap(({ procPid, parent }) => (procPid ? [{ pid: procPid, ref: (parent !== undefined && procPidNow.get(parent)) || 0 }] : [])), ignore);
  const captured: Captured[] = [];
  const stats = new Map<string, fs.Stats>(); // each mapped file stat'ed once for the tree
  const parts = new FrameParts(); // each XSAVE area once by content
  const cgroups = new CgroupCapture(); // each task's /proc/PID/cgroup, sets kept once
  for (const { pid, state } of order) {
    if (state === 'Z') {
      const st = readStat(pid);
      entries.push({ pid, ppid: st.ppid, pgid: st.pgid, sid: st.sid, comm: st.comm, state: 'zombie', threads: 1, exitStatus: st.exitCode });
      continue;
    }
    askAhead(captured.length + 1 + STATE_AHEAD);
    const req = requests.get(pid)!;
    requests.delete(pid); // its answer is let go with its task's capture
    const c = await clock.run('capture', () => captureTask(helper, req, state, stats, parts, pending), pid);
    procPids.set(pid, c.procPid);
    prefetch.closeOnExec(c.procPid, c.fdFlags);
    c.fdFlags = undefined;
    cgroups.add(pid, c.cgroup, () => c.task.threads.map((th) => [th.tid, readProcText(`/proc/${c.procPid}/task/${th.tid}/cgroup`)]));
    entries.push(c.entry);
    tasks.push(c.task);
    captured.push(c);
  }
  // answered in the order they were asked, task after task
  for (const c of captured) await collectRuns(helper, c);
  return { entries, tasks, procPids, prefetch, cgroups };
}
