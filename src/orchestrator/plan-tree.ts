/**
 * Plans how the tree is rebuilt (after Laadan & Nieh 2007 and linux-cr's restart): every task
 * gets a creator — its parent when the parent is in the image, otherwise the helper or, for an
 * orphan whose session leader is in the image, a placeholder created by that leader that exits
 * once it has created the orphan (so the orphan ends up reparented, as it was). The plan is a
 * list of actions the helper executes in order:
 *   1. clone, depth first from the root: a task that leads a session calls setsid() right after
 *      it is created, before it creates its children, so they are born in its session;
 *   2. setpgid: group leaders first (a group whose leader is not in the image gets a new leader:
 *      its first task), then members;
 *   3. zombies exit with their status; placeholders exit and are reaped by their creator.
 * Sessions whose leader is not in the image are not recreated: those tasks stay in the session
 * of `ucr restart` (restart into an existing session, like a shell job).
 */
import { UnsupportedError } from '../errors.js';
import type { TreeEntry } from '../image/types.js';
import { planActClone, planActCtty, planActExit, planActReap, planActSetpgid, planActSetsid, planActTcpgrp } from '../kernel/protocol.gen.js';

export type PlanTaskKind = 'task' | 'zombie' | 'placeholder' | 'init';

export interface PlanTask {
  index: number;
  /** the pid in the image; 0 for placeholders */
  oldPid: number;
  /** the pid to create it at; 0: any free pid */
  newPid: number;
  kind: PlanTaskKind;
  entry?: TreeEntry;
  /** created as pid 1 of a new pid namespace */
  newns?: boolean;
}

export type Action =
  | { op: 'clone'; creator: number; task: number }
  | { op: 'setsid'; task: number }
  | { op: 'setpgid'; task: number; leader: number }
  | { op: 'exit'; task: number }
  | { op: 'reap'; task: number; child: number }
  | { op: 'ctty'; task: number; tty: number }
  | { op: 'tcpgrp'; task: number; leader: number };

export interface TreePlan {
  /** live tasks first, in the image's TASK order (their index is the page records' task index) */
  tasks: PlanTask[];
  actions: Action[];
}

/**
 * pidFor(old) gives the new pid (0: any). With pidns, ucr's init is created first in a new pid
 * namespace (pid 1 there) and creates what the helper would otherwise create: the tree comes
 * back under it at its pids inside the namespace. A root that was pid 1 of its own namespace
 * at checkpoint time is that namespace's pid 1 again, without ucr's init.
 */
export function planTree(entries: TreeEntry[], pidFor: (old: number) => number, pidns = false): TreePlan {
  const byPid = new Map(entries.map((e) => [e.pid, e]));
  const live = entries.filter((e) => e.state !== 'zombie');
  const zombies = entries.filter((e) => e.state === 'zombie');
  const tasks: PlanTask[] = [...live, ...zombies].map((e, index) => ({
    index,
    oldPid: e.pid,
    newPid: pidFor(e.pid),
    kind: e.state === 'zombie' ? 'zombie' : 'task',
    entry: e,
  }));
  const idx = new Map(tasks.map((t) => [t.oldPid, t.index]));
  const children = new Map<number, TreeEntry[]>();
  for (const e of entries) if (byPid.has(e.ppid) && e.pid !== entries[0]!.pid) pushTo(children, e.ppid, e);
  for (const list of children.values()) list.sort((a, b) => a.pid - b.pid);

  const leadsSession = (e: TreeEntry) => e.sid === e.pid;
  const sessionInImage = (sid: number) => {
    const l = byPid.get(sid);
    return l !== undefined && leadsSession(l);
  };
  for (const e of entries) {
    const l = byPid.get(e.sid);
    if (l && leadsSession(l) && l.state === 'zombie' && l !== e)
      throw new UnsupportedError(`process ${e.pid}: its session leader ${e.sid} is a zombie in the image: not supported yet`, { pid: e.pid });
  }

  const actions: Action[] = [];
  const created: number[] = []; // creation order, for picking new group leaders
  let top = -1; // the creator of the root and of orphans outside any session in the image
  if (pidns && entries[0]!.nsPid === 1) {
    tasks[0]!.newPid = 0;
    tasks[0]!.newns = true;
  } else if (pidns) {
    const init: PlanTask = { index: tasks.length, oldPid: 0, newPid: 0, kind: 'init', newns: true };
    tasks.push(init);
    actions.push({ op: 'clone', creator: -1, task: init.index });
    top = init.index;
  }
  const create = (e: TreeEntry, creator: number) => {
    const t = idx.get(e.pid)!;
    actions.push({ op: 'clone', creator, task: t });
    created.push(e.pid);
    if (leadsSession(e)) actions.push({ op: 'setsid', task: t });
    for (const c of children.get(e.pid) ?? []) {
      if (!leadsSession(c) && c.sid !== e.sid)
        throw new UnsupportedError(
          `process ${c.pid} is in session ${c.sid} but its parent ${e.pid} is in session ${e.sid}: a child created before its parent's setsid() is not supported yet`,
          { pid: c.pid },
        );
      create(c, t);
    }
  };
  const root = entries[0]!;
  create(root, top);
  // Orphans: tasks whose parent is not in the image (reparented to init or a subreaper).
  const placeholders: { task: number; creator: number }[] = [];
  for (const e of entries) {
    if (e === root || byPid.has(e.ppid)) continue;
    if (leadsSession(e) || !sessionInImage(e.sid) || (e.sid === root.sid && !leadsSession(root))) {
      create(e, top);
      continue;
    }
    const leader = idx.get(e.sid)!;
    const p: PlanTask = { index: tasks.length, oldPid: 0, newPid: 0, kind: 'placeholder' };
    tasks.push(p);
    actions.push({ op: 'clone', creator: leader, task: p.index });
    create(e, p.index);
    placeholders.push({ task: p.index, creator: leader });
  }

  // Process groups.
  const groups = new Map<number, TreeEntry[]>();
  for (const pid of created) {
    const e = byPid.get(pid)!;
    pushTo(groups, e.pgid, e);
  }
  const joins: Action[] = [];
  for (const [pgid, members] of groups) {
    const inImage = byPid.get(pgid);
    const leader = inImage && inImage.pgid === pgid && inImage.state !== 'zombie' ? inImage : members[0]!;
    const l = idx.get(leader.pid)!;
    if (!leadsSession(leader)) actions.push({ op: 'setpgid', task: l, leader: l });
    for (const m of members) {
      if (m === leader) continue;
      if (leadsSession(m))
        throw new UnsupportedError(`process ${m.pid} leads session ${m.sid} but is in process group ${pgid}: impossible`, { pid: m.pid, code: 'EIMAGE' });
      joins.push({ op: 'setpgid', task: idx.get(m.pid)!, leader: l });
    }
  }
  for (const j of joins) actions.push(j);
  for (const z of zombies) actions.push({ op: 'exit', task: idx.get(z.pid)! });
  for (const p of placeholders) actions.push({ op: 'exit', task: p.task }, { op: 'reap', task: p.creator, child: p.task });
  return { tasks, actions };
}

/** Appends to the list at key (in place: linear in the number of tasks). */
function pushTo<K, V>(m: Map<K, V[]>, key: K, v: V): void {
  const l = m.get(key);
  if (l) l.push(v);
  else m.set(key, [v]);
}

/** The plan as helper lines (native/helper/restore/plan.h). */
export function actionLines(actions: Action[]): string[] {
  return actions.map((a) => {
    switch (a.op) {
      case 'clone':
        return planActClone(a);
      case 'setsid':
        return planActSetsid(a);
      case 'setpgid':
        return planActSetpgid(a);
      case 'exit':
        return planActExit(a);
      case 'reap':
        return planActReap(a);
      case 'ctty':
        return planActCtty(a);
      case 'tcpgrp':
        return planActTcpgrp(a);
    }
  });
}

/**
 * Controlling terminals that are ptys of the image: each session leader that had one takes it
 * back right after its setsid(), and once every group exists gives the foreground to the group
 * that had it. (A session whose terminal is not in the image gets none, or the caller's.)
 */
export function planTerminals(plan: TreePlan, ttys: number[], ctty: (pid: number) => { ctty?: number; tpgid?: number } | undefined): void {
  const byOld = new Map(plan.tasks.filter((t) => t.kind === 'task').map((t) => [t.oldPid, t.index]));
  const late: Action[] = [];
  const after = new Map<Action, Action>(); // a setsid -> the ctty that follows it
  const setsidOf = new Map<number, Action>();
  for (const a of plan.actions) if (a.op === 'setsid') setsidOf.set(a.task, a);
  const ttySet = new Set(ttys);
  for (const t of plan.tasks) {
    if (t.kind !== 'task' || t.entry?.sid !== t.oldPid) continue;
    const c = ctty(t.oldPid);
    if (c?.ctty === undefined || !ttySet.has(c.ctty)) continue;
    const s = setsidOf.get(t.index);
    if (s) after.set(s, { op: 'ctty', task: t.index, tty: c.ctty });
    const leader = c.tpgid !== undefined ? byOld.get(c.tpgid) : undefined;
    if (leader !== undefined) late.push({ op: 'tcpgrp', task: t.index, leader });
  }
  // rebuilt in one pass (no splice per task, no spread of a list as long as the tree)
  const old = plan.actions.slice();
  plan.actions.length = 0;
  let lateDone = false;
  for (const a of old) {
    if (a.op === 'exit' && !lateDone) {
      for (const l of late) plan.actions.push(l);
      lateDone = true;
    }
    plan.actions.push(a);
    const c = after.get(a);
    if (c) plan.actions.push(c);
  }
  if (!lateDone) for (const l of late) plan.actions.push(l);
}
