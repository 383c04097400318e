/**
 * Processes of the tree that share their fd table (clone with CLONE_FILES) or their fs info
 * (cwd, root, umask: CLONE_FS) with another process of the tree (docs/restart-sharing.md). kcmp(KCMP_FILES / KCMP_FS) orders the tasks; equal ones share. Each
 * sharer records the first of its group in the image (`attrs.files` / `attrs.fs`); a restart
 * creates it with the flag from its creator, so every sharer's creator must be in its group:
 * its parent, or the first of its group when that is its sibling in its session (it is then
 * that sibling's clone with CLONE_PARENT: src/orchestrator/plan-tree.ts); any other sharer is
 * refused here.
 */
import { UnsupportedError } from '../errors.js';
import type { TaskImage, TreeEntry } from '../image/types.js';
import { native } from '../native/addon.js';

const KCMP_FILES = 2;
const KCMP_FS = 3;
const WHAT = { files: 'fd table (CLONE_FILES)', fs: 'fs info: cwd, root, umask (CLONE_FS)' } as const;

/** Sets attrs.files / attrs.fs of every task that shares them with an earlier one. */
export function findSharing(tasks: TaskImage[], entries: TreeEntry[], procPid: (pid: number) => number): void {
  if (tasks.length < 2) return;
  const ppid = new Map(entries.map((e) => [e.pid, e.ppid]));
  for (const [key, type] of [['files', KCMP_FILES], ['fs', KCMP_FS]] as const) {
    const cmp = (a: TaskImage, b: TaskImage) => {
      const r = native().kcmpTasks(procPid(a.pid), procPid(b.pid), type);
      return r === 0 ? 0 : r === 1 ? -1 : 1;
    };
    const order = tasks.map((t, i) => [t, i] as const).sort(([a, i], [b, j]) => cmp(a, b) || i - j);
    for (let s = 0; s < order.length; ) {
      let e = s + 1;
      while (e < order.length && cmp(order[s]![0], order[e]![0]) === 0) e++;
      if (e - s > 1) {
        const group = order.slice(s, e).map(([t]) => t); // image order: the first one leads
        const pids = new Set(group.map((t) => t.pid));
        const lead = group[0]!;
        const sid = new Map(entries.map((e) => [e.pid, e.sid]));
        const sibling = (t: TaskImage) => ppid.get(t.pid) === ppid.get(lead.pid) && sid.get(t.pid) === sid.get(lead.pid);
        for (const t of group.slice(1)) {
          if (!pids.has(ppid.get(t.pid) ?? 0) && !sibling(t))
            throw new UnsupportedError(`process ${t.pid} shares its ${WHAT[key]} with process ${lead.pid}, which is neither its parent, nor shares it with its parent, nor is its sibling in its session: not supported`, { pid: t.pid, phase: 'capture' });
          if (t.attrs) t.attrs[key] = lead.pid;
        }
      }
      s = e;
    }
  }
}

/** Restart: a sharer is created by its creator with CLONE_FILES / CLONE_FS, so its creator must
 * be a process of its group (the first one, or another that shares with it). */
export function checkSharing(tree: { tasks: { index: number; oldPid: number; kind: string }[]; actions: { op: string; creator?: number; task: number }[] }, image: Map<number, TaskImage>): void {
  const creatorOf = new Map(tree.actions.flatMap((a) => (a.op === 'clone' ? [[a.task, a.creator!] as const] : [])));
  for (const p of tree.tasks) {
    const a = p.kind === 'task' ? image.get(p.oldPid)?.attrs : undefined;
    for (const key of ['files', 'fs'] as const) {
      const lead = a?.[key];
      if (lead === undefined) continue;
      const leader = image.get(lead);
      if (lead === p.oldPid || !leader || leader.attrs?.[key] !== undefined)
        throw new UnsupportedError(`process ${p.oldPid}: its ${WHAT[key]} is said to be shared with process ${lead}, which is not the first of a group of the image`, { pid: p.oldPid, phase: 'plan' });
      const c = creatorOf.get(p.index);
      const creator = c === undefined || c < 0 ? undefined : tree.tasks[c];
      const ci = creator?.kind === 'task' ? image.get(creator.oldPid) : undefined;
      if (!ci || (ci.pid !== lead && ci.attrs?.[key] !== lead))
        throw new UnsupportedError(`process ${p.oldPid} shares its ${WHAT[key]} with process ${lead}, but this restart creates it from ${creator ? `process ${creator.oldPid || 'a placeholder'}` : 'the restorer'}: not supported`, { pid: p.oldPid, phase: 'plan' });
    }
  }
}
