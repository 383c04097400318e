/**
 * Checkpoint side of copy-on-write sharing (src/image/cow.ts describes it): which pages of a
 * child are still its parent's, asked of the helper while the tree is frozen.
 */
import { findVma, forkSource, intersect, parents, subtract, type Run } from '../image/cow.js';
import type { TaskImage, TreeEntry, VmaImage } from '../image/types.js';
import { CheckpointError } from '../errors.js';
import type { Helper } from './helper.js';
import { dumpShared } from './protocol.gen.js';

/** Mappings per `shared` command (the helper splits a line into at most 520 words). */
const SHARED_PER_COMMAND = 256;

/**
 * Checkpoint: finds every child's pages still shared with its parent (all frozen) and moves
 * them from pageRuns to inherited. The mappings that can share asked for a task at once (one
 * `shared` command per 256 of them), every task's at once; the answers come in order.
 */
export async function findInherited(h: Helper, tasks: TaskImage[], entries: TreeEntry[]): Promise<void> {
  const parent = parents(tasks, entries);
  const asks: { task: number; vmas: VmaImage[] }[] = [];
  tasks.forEach((t, i) => {
    const p = parent[i]!;
    if (p < 0 || t.leaderExited || tasks[p]!.leaderExited) return;
    const vmas = t.vmas.filter((v) => v.fill && forkSource(tasks[p]!, v));
    for (let k = 0; k < vmas.length; k += SHARED_PER_COMMAND) asks.push({ task: i, vmas: vmas.slice(k, k + SHARED_PER_COMMAND) });
  });
  if (!asks.length) return;
  h.send(...asks.map(({ task, vmas }) => dumpShared({ pid: tasks[task]!.pid, parent: tasks[parent[task]!]!.pid, ranges: vmas.flatMap((v) => [v.start, v.end]) })));
  const found = new Map<number, Run[]>();
  for (const { task, vmas } of asks) {
    const ev = await h.next('shared');
    if (ev.start !== vmas[0]!.start) throw new CheckpointError(`process ${tasks[task]!.pid}: page map comparison answered for ${ev.start} instead of ${vmas[0]!.start}`, { pid: tasks[task]!.pid, phase: 'capture' });
    if (!ev.runs.length) continue;
    const list = found.get(task) ?? [];
    for (const r of ev.runs) list.push(r);
    found.set(task, list);
  }
  for (const [i, shared] of found) {
    const t = tasks[i]!;
    // only pages the task would have saved (the zero page is never saved, nor inherited)
    const inherited = intersect(t.pageRuns, shared);
    if (!inherited.length) continue;
    t.pageRuns = subtract(t.pageRuns, inherited);
    t.inherited = inherited;
  }
}


/**
 * Checkpoint, once content objects are known: a file mapped privately that turned out to be a
 * content object (a tmpfs file the tree also maps shared: objects.ts) is mapped from the object
 * at restart, not staged; the pages a child inherited there are saved as its own again.
 */
export function keepStageable(tasks: TaskImage[], entries: TreeEntry[]): void {
  const parent = parents(tasks, entries);
  tasks.forEach((t, i) => {
    if (!t.inherited?.length) return;
    const back = t.inherited.filter(([a]) => {
      const v = findVma(t.vmas, a);
      return !v || !forkSource(tasks[parent[i]!]!, v);
    });
    if (!back.length) return;
    t.inherited = subtract(t.inherited, back);
    // in address order, not joined: a run never spans two mappings
    t.pageRuns = [...t.pageRuns, ...back].sort((x, y) => x[0] - y[0]);
    if (!t.inherited.length) delete t.inherited;
  });
}
