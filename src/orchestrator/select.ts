/**
 * Which processes a checkpoint takes: the tree under a pid, or every process of a session or
 * group, without ucr's own call when ucr runs inside it (self-checkpoint, see self.ts); and the
 * checks done before anything is touched.
 */
import fs from 'node:fs';
import { PermissionError, UcrError, UnsupportedError } from '../errors.js';
import { listChildren, listThreads, pidState, readStat, threadState } from '../kernel/proc.js';
import { findSelfCall, type SelfCall } from './self.js';

/** PF_KTHREAD in the flags of /proc/PID/stat (a kernel thread has no exe either, but neither
 * has a thread that just ended). */
function isKernelThread(pid: number): boolean {
  try {
    const st = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'latin1');
    return (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[6]) & 0x00200000) !== 0;
  } catch {
    return false;
  }
}

/** Returns the task's state letter before ucr touched it. */
export function checkTarget(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) throw new UcrError(`invalid pid ${pid}`, { code: 'EINVAL' });
  const state = pidState(pid);
  if (state === undefined) throw new UcrError(`process ${pid} does not exist`, { code: 'ESRCH', pid });
  if (pid === process.pid) throw new UcrError(`process ${pid} is ucr itself`, { code: 'EINVAL', pid });
  if (state === 'Z' && listThreads(pid).length === 1) throw new UcrError(`process ${pid} is a zombie`, { code: 'ESRCH', pid });
  if (isKernelThread(pid)) throw new UcrError(`process ${pid} is a kernel thread`, { code: 'EINVAL', pid });
  // through a live thread (an exited main thread has no exe); one that ends meanwhile is no
  // error here: the freeze copes with threads that come and go
  const live = state === 'Z' ? (listThreads(pid).find((t) => t !== pid && threadState(pid, t) !== 'Z') ?? pid) : pid;
  try {
    fs.readlinkSync(`/proc/${pid}/task/${live}/exe`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM')
      throw new PermissionError(`process ${pid}: permission denied (the caller may not ptrace it)`, { pid, phase: 'check', syscall: 'readlink', errno: 13 });
  }
  if (state === 't') throw new UnsupportedError(`process ${pid} is being traced by another process`, { pid });
  return state;
}

/**
 * A parent inside vfork() shares its memory with the child until the child execs or exits:
 * it sleeps in kernel_clone() itself (wait_for_vfork_done), whichever call asked for
 * CLONE_VFORK: vfork(), or clone()/clone3() with CLONE_VM | CLONE_VFORK as posix_spawn() and
 * system() do. (A task still creating its child sleeps deeper, in copy_process().)
 */
function inVfork(pid: number): boolean {
  try {
    const top = fs.readFileSync(`/proc/${pid}/stack`, 'latin1').split('\n')[0] ?? '';
    return /\] (wait_for_vfork_done|kernel_clone|_do_fork)\+/.test(top);
  } catch {
    try {
      return fs.readFileSync(`/proc/${pid}/wchan`, 'latin1') === 'kernel_clone' && pidState(pid) === 'D';
    } catch {
      return false;
    }
  }
}

/** state: the task's state letter when known; a parent waiting for its vfork child sleeps
 * killable, 'D' (any other letter: not in vfork, no need to read its kernel stack). */
export async function waitVfork(pid: number, ms: number, state?: string): Promise<void> {
  if (state !== undefined && state !== 'D') return;
  const deadline = Date.now() + ms;
  while (inVfork(pid)) {
    if (Date.now() >= deadline)
      throw new UnsupportedError(
        `process ${pid} is waiting in vfork() for its child ${listChildren(pid).join(', ') || '?'}, which did not exec or exit within ${ms} ms`,
        { pid, phase: 'freeze' },
      );
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Selection {
  root: number;
  /** where freezing starts: the root, then members whose parent is not a member */
  roots: number[];
  member: (pid: number) => boolean;
  /** ucr runs inside the selection: its call is left out (recorded as a zombie) */
  self?: SelfCall;
}

function isDescendant(pid: number, root: number): boolean {
  for (let p = pid, n = 0; p > 1 && n < 4096; n++) {
    if (p === root) return true;
    try {
      p = readStat(p).ppid;
    } catch {
      return false;
    }
  }
  return pid === root;
}

/** The tree under pid, or every process of a session or group (orphans included). */
export function select(pid: number, opts: { session?: number; pgid?: number }): Selection {
  if (opts.session === undefined && opts.pgid === undefined) {
    checkTarget(pid);
    const self = findSelfCall((p) => isDescendant(p, pid), pid);
    return { root: pid, roots: [pid], member: self ? (p) => !self.under(p) : () => true, self };
  }
  const bySession = opts.session !== undefined;
  const id = (bySession ? opts.session : opts.pgid)!;
  const what = bySession ? `session ${id}` : `process group ${id}`;
  const selected = (p: number) => {
    try {
      const st = readStat(p);
      return (bySession ? st.sid : st.pgid) === id;
    } catch {
      return false;
    }
  };
  const stats = new Map<number, ReturnType<typeof readStat>>();
  for (const name of fs.readdirSync('/proc')) {
    const p = Number(name);
    if (!p || p === process.pid) continue;
    try {
      const st = readStat(p);
      if ((bySession ? st.sid : st.pgid) === id) stats.set(p, st);
    } catch {
      /* gone */
    }
  }
  const leaderAlive = stats.has(id) && stats.get(id)!.state !== 'Z';
  const self = findSelfCall(selected, leaderAlive ? id : -1);
  if (self) for (const p of [...stats.keys()]) if (self.under(p)) stats.delete(p);
  if (!stats.size) throw new UcrError(`${what} has no processes`, { code: 'ESRCH' });
  const leader = stats.get(id);
  const members = [...stats.keys()].sort((a, b) => a - b);
  const root = leader && leader.state !== 'Z' ? id : members.find((p) => stats.get(p)!.state !== 'Z');
  if (root === undefined) throw new UcrError(`${what} has only zombies`, { code: 'ESRCH' });
  checkTarget(root);
  const member = (p: number) => selected(p) && !self?.under(p);
  const others = members.filter((p) => p !== root && !stats.has(stats.get(p)!.ppid));
  return { root, roots: [root, ...others], member, self };
}

/** Every selected live process now, parents before children (for notifications). */
export function selectedNow(sel: Selection): number[] {
  const out: number[] = [];
  const queue = [...sel.roots];
  const seen = new Set<number>();
  while (queue.length) {
    const p = queue.shift()!;
    if (seen.has(p)) continue;
    seen.add(p);
    const st = pidState(p);
    if (st === undefined || st === 'Z') continue;
    out.push(p);
    for (const c of listChildren(p)) if (sel.member(c)) queue.push(c);
  }
  return out;
}
