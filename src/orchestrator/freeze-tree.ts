/** The checkpoint's freeze of a tree, top-down (checkpoint.ts). */
import { UnsupportedError } from '../errors.js';
import type { PhaseClock } from '../events.js';
import type { Helper } from '../kernel/helper.js';
import { listChildren, listThreads, pidState } from '../kernel/proc.js';
import { dumpFreeze } from '../kernel/protocol.gen.js';
import { waitVfork } from './select.js';

/**
 * Freezes the tree top-down: a task is frozen before its children are listed, so a child forked
 * meanwhile is found, and a frozen task forks no more. Zombies are recorded, not frozen. The
 * tasks found by one pass (the roots, then the children of the tasks frozen by the pass before)
 * are asked for at once and their answers collected in order: one round trip to the helper per
 * pass rather than per task, the same order as one task after the other.
 */
export async function freezeTree(
  helper: Helper,
  roots: number[],
  member: (pid: number) => boolean,
  clock: PhaseClock,
  vforkWaitMs: number,
): Promise<{ pid: number; state: string; parent?: number; tid?: number }[]> {
  const order: { pid: number; state: string; parent?: number; tid?: number }[] = [];
  const seen = new Set<number>();
  let queue: { pid: number; state: string | undefined; parent?: number }[] = roots.map((pid) => ({ pid, state: undefined }));
  while (queue.length) {
    const asked: number[] = [];
    const frozen: (typeof order)[number][] = []; // the entries of asked
    for (const { pid, state: known, parent } of queue) {
      let state = known ?? pidState(pid);
      if (state === undefined) continue; // exited and reaped before we got to it
      if (state === 'Z' && listThreads(pid).length > 1) state = 'R'; // main thread gone, others run
      const entry = { pid, state, ...(parent !== undefined ? { parent } : {}) };
      order.push(entry);
      seen.add(pid);
      if (state === 'Z') continue;
      if (state === 't') throw new UnsupportedError(`process ${pid} is being traced by another process`, { pid, phase: 'freeze' });
      await waitVfork(pid, vforkWaitMs, state);
      helper.send(dumpFreeze({ pid }));
      asked.push(pid);
      frozen.push(entry);
    }
    // the answers come in order (a failure throws; the helper then puts every task back);
    // tid: the thread the helper works through (capture-tree.ts)
    for (const e of frozen) e.tid = (await clock.run('freeze', () => helper.next('frozen'), e.pid)).tid;
    queue = [];
    for (const pid of asked)
      for (const c of listChildren(pid).sort((a, b) => a - b))
        if (member(c) && !seen.has(c)) {
          seen.add(c);
          queue.push({ pid: c, state: undefined, parent: pid });
        }
  }
  return order;
}
