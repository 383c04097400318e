/**
 * Plans how the tree is rebuilt (after Laadan & Nieh 2007 and linux-cr's restart): every task
 * gets a creator — its parent when the parent is in the image, otherwise the helper or, for an
 * orphan whose session leader is in the image, a placeholder created by that leader that exits
 * once it has created the orphan (so the orphan ends up reparented, as it was; a zombie leader
 * creates its orphans itself, as it exits anyway). The plan is a list of actions the helper
 * executes in order:
 *   1. clone, depth first from the root: a task that leads a session creates the children that
 *      stayed in the session it was born in (forked before its setsid()), then calls setsid()
 *      and creates the others, born in its session; a child in the session a sibling leads
 *      (reparented to a subreaper) is created by that sibling with CLONE_PARENT; one in a
 *      session whose leader is gone, by a placeholder at the leader's pid that leads it again;
 *   2. setpgid: group leaders first (a group whose leader is gone, exited and reaped, in a
 *      session whose leader is in the image is led again
 *      by a placeholder at the leader's pid that a member creates, exits once the members
 *      joined, and that member reaps; without the same pids, its first task leads it; a zombie
 *      leads its group as it did), then members;
 *   3. zombies exit with their status; placeholders exit and are reaped by their creator.
 * Sessions whose leader is not in the image are not recreated: those tasks stay in the session
 * of `ucr restart` (restart into an existing session, like a shell job). A session whose leader
 * is a zombie comes back with it: the leader is created, leads, and exits last.
 */
import { UnsupportedError } from '../errors.js';
import type { TreeEntry } from '../image/types.js';
import { planActClone, planActClonep, planActCtty, planActExit, planActReap, planActSetpgid, planActSetsid, planActTcpgrp } from '../kernel/protocol.gen.js';

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
  /** parent: CLONE_PARENT, the task is born a sibling of its creator (in its session) */
  | { op: 'clone'; creator: number; task: number; parent?: true }
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
export function planTree(entries: TreeEntry[], pidFor: (old: number) => number, pidns = false, sharesWith?: (pid: number) => number | undefined): TreePlan {
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
  /** c may be born in session `born` (an old sid; -1: the session of ucr restart) */
  const bornIn = (c: TreeEntry, born: number) => (born === -1 ? !sessionInImage(c.sid) : c.sid === born);

  const actions: Action[] = [];
  const created: number[] = []; // creation order, for picking new group leaders
  const done = new Set<number>();
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
  /**
   * e, created by creator in session `born`: a session leader first creates the children that
   * stayed in the session it was born in (forked before its setsid()), then calls setsid() and
   * creates the others. A child in the session of a sibling that leads it (it was reparented to
   * its parent, a subreaper, when the sibling's child it was died or the sibling exited) is
   * created by that sibling with CLONE_PARENT, once the sibling leads its session.
   */
  type Step = { e: TreeEntry; creator: number; born: number; sibling: boolean } | { setsid: number } | { hold: number; creator: number };
  // sessions whose leader is gone (exited and reaped) with members under a subreaper of the
  // tree: a placeholder at the leader's pid, created by that parent, leads it again while the
  // members are born in it (CLONE_PARENT), then exits and is reaped
  const holders = new Map<number, { task: number; creator: number }>(); // sid -> placeholder
  const placeholders: { task: number; creator: number }[] = []; // exit, reaped by their creator
  const create = (e0: TreeEntry, creator0: number, born0: number) => {
    // depth first with a stack of its own (a chain of thousands of generations)
    const stack: Step[] = [{ e: e0, creator: creator0, born: born0, sibling: false }];
    while (stack.length) {
      const s = stack.pop()!;
      if ('setsid' in s) {
        actions.push({ op: 'setsid', task: s.setsid });
        continue;
      }
      if ('hold' in s) {
        actions.push({ op: 'clone', creator: s.creator, task: s.hold }, { op: 'setsid', task: s.hold });
        continue;
      }
      const { e, born } = s;
      const t = idx.get(e.pid)!;
      actions.push(s.sibling ? { op: 'clone', creator: s.creator, task: t, parent: true } : { op: 'clone', creator: s.creator, task: t });
      created.push(e.pid);
      done.add(e.pid);
      const kids = children.get(e.pid) ?? [];
      const own = leadsSession(e) ? e.pid : born;
      const steps: Step[] = [];
      const late: TreeEntry[] = [];
      // forked before e's setsid(), in the session e was born in; when that is the caller's
      // (unknown) session, a child still in the group named after its session is rather in
      // the session of a leader that is gone
      const early = (c: TreeEntry) =>
        leadsSession(e) && !leadsSession(c) && c.sid !== e.pid && bornIn(c, born) && !(born === -1 && c.pgid === c.sid && !byPid.has(c.sid));
      if (leadsSession(e)) {
        for (const c of kids) if (early(c)) steps.push({ e: c, creator: t, born, sibling: false });
        steps.push({ setsid: t });
      }
      // a child sharing its fd table or fs info with a sibling that its parent does not share
      // them with (src/kernel/sharing.ts) is that sibling's clone (CLONE_PARENT), after it
      const sharers: [TreeEntry, number][] = [];
      for (const c of kids) {
        if (early(c)) continue;
        const lead = sharesWith?.(c.pid);
        const x = lead === undefined || lead === e.pid ? undefined : byPid.get(lead);
        const k = x && x.ppid === e.pid && x !== entries[0] && !early(x) ? x : undefined;
        if (k && k.sid === c.sid && k.state !== 'zombie') {
          sharers.push([c, idx.get(k.pid)!]);
          continue;
        }
        if (leadsSession(c) || bornIn(c, own)) steps.push({ e: c, creator: t, born: own, sibling: false });
        else late.push(c);
      }
      for (const c of late) {
        const sib = kids.find((k) => k.pid === c.sid && leadsSession(k));
        if (sib) {
          steps.push({ e: c, creator: idx.get(sib.pid)!, born: c.sid, sibling: true });
          continue;
        }
        let h = holders.get(c.sid);
        if (!h && !byPid.has(c.sid)) {
          const p: PlanTask = { index: tasks.length, oldPid: 0, newPid: pidFor(c.sid), kind: 'placeholder' };
          tasks.push(p);
          h = { task: p.index, creator: t };
          holders.set(c.sid, h);
          placeholders.push(h);
          steps.push({ hold: p.index, creator: t });
        }
        if (!h || h.creator !== t)
          throw new UnsupportedError(
            `process ${c.pid} is in session ${c.sid} but its parent ${e.pid} is in session ${e.sid}, and no child of ${e.pid} leads session ${c.sid}: not supported yet`,
            { pid: c.pid },
          );
        steps.push({ e: c, creator: h.task, born: c.sid, sibling: true });
      }
      for (const [c, k] of sharers) steps.push({ e: c, creator: k, born: c.sid, sibling: true });
      for (let i = steps.length - 1; i >= 0; i--) stack.push(steps[i]!);
    }
  };
  // The root and the orphans (tasks whose parent is not in the image: reparented to init or a
  // subreaper). One in a session whose leader is in the image is created by that leader: by a
  // placeholder the leader creates and that exits once it has created the orphan, or, when the
  // leader is a zombie (it exits anyway), by the leader itself; so it ends up reparented, as it
  // was. A task whose session leader is not created yet waits for it.
  const root = entries[0]!;
  const tops = [root, ...entries.filter((e) => e !== root && !byPid.has(e.ppid))];
  for (let pending = tops; pending.length; ) {
    const next: TreeEntry[] = [];
    for (const e of pending) {
      if (done.has(e.pid)) continue;
      if (leadsSession(e) || !sessionInImage(e.sid)) {
        create(e, top, -1);
        continue;
      }
      if (!done.has(e.sid)) {
        next.push(e);
        continue;
      }
      const leader = idx.get(e.sid)!;
      if (byPid.get(e.sid)!.state === 'zombie') {
        create(e, leader, e.sid);
        continue;
      }
      const p: PlanTask = { index: tasks.length, oldPid: 0, newPid: 0, kind: 'placeholder' };
      tasks.push(p);
      actions.push({ op: 'clone', creator: leader, task: p.index });
      create(e, p.index, e.sid);
      placeholders.push({ task: p.index, creator: leader });
    }
    if (next.length === pending.length)
      throw new UnsupportedError(`process ${next[0]!.pid}: its session leader ${next[0]!.sid} cannot be created before it`, { pid: next[0]!.pid, code: 'EIMAGE' });
    pending = next;
  }

  // Process groups.
  const groups = new Map<number, TreeEntry[]>();
  for (const pid of created) {
    const e = byPid.get(pid)!;
    pushTo(groups, e.pgid, e);
  }
  const joins: Action[] = [];
  const groupHolders: { task: number; creator: number }[] = [];
  for (const [pgid, members] of groups) {
    // a zombie leads its group as it did: it exits only once every member has joined
    // a group whose leader is gone but whose session a placeholder leads again (its pid): that
    // placeholder leads the group too
    const inImage = byPid.get(pgid);
    let holder = holders.get(pgid);
    if (!holder && !inImage && pidFor(pgid) !== 0 && sessionInImage(members[0]!.sid)) {
      // a group whose leader is gone (exited and reaped), in a session the image holds (so the
      // leader's pid is not some live process outside it): a placeholder at the leader's pid,
      // created by a member (a live one when there is one: it reaps it), leads it again while
      // the members join, then exits before the zombies do
      const creator = idx.get((members.find((m) => m.state !== 'zombie') ?? members[0]!).pid)!;
      const p: PlanTask = { index: tasks.length, oldPid: 0, newPid: pidFor(pgid), kind: 'placeholder' };
      tasks.push(p);
      holder = { task: p.index, creator };
      actions.push({ op: 'clone', creator, task: p.index }, { op: 'setpgid', task: p.index, leader: p.index });
      groupHolders.push(holder);
    }
    const leader = holder ? undefined : inImage && inImage.pgid === pgid ? inImage : members[0]!;
    const l = holder ? holder.task : idx.get(leader!.pid)!;
    if (leader && !leadsSession(leader)) actions.push({ op: 'setpgid', task: l, leader: l });
    for (const m of members) {
      if (m === leader) continue;
      if (leadsSession(m))
        throw new UnsupportedError(`process ${m.pid} leads session ${m.sid} but is in process group ${pgid}: impossible`, { pid: m.pid, code: 'EIMAGE' });
      joins.push({ op: 'setpgid', task: idx.get(m.pid)!, leader: l });
    }
  }
  for (const j of joins) actions.push(j);
  for (const p of groupHolders) actions.push({ op: 'exit', task: p.task }, { op: 'reap', task: p.creator, child: p.task });
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
        return a.parent ? planActClonep(a) : planActClone(a);
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
