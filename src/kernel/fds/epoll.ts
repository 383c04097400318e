/**
 * epoll instances: the instance itself is created by the helper (every holder inherits it);
 * each registered target is added again by a task of the tree that holds both the epoll and,
 * at the registered fd number, the target's open file, because epoll keys a registration by
 * (file, fd number) and a later EPOLL_CTL_MOD/DEL from the program names its own fd number.
 * What is restored: targets, event masks (EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP
 * included; a fired one-shot entry stays disarmed) and the user data. Readiness is the
 * targets' own state, so level-triggered events come back by themselves; an edge already
 * signalled but not yet collected by epoll_wait is not replayed.
 */
import fs from 'node:fs';
import { UnsupportedError } from '../../errors.js';
import { native } from '../../native/addon.js';
import type { EpollTarget, FileOf, ImageFiles } from '../../image/types.js';
import type { FdOps, TreeFiles } from './types.js';
import { planEpctl, planEpghost, planFileEpoll } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

/** Registrations whose fd number no task holds the target at (closed, or reused for another
 * file) while the file lives on: what identifies the file until linkClosedTargets finds it. */
const closedTargets = new WeakMap<EpollTarget, { ino: number; toff: number; epoll: { pid: number; fd: number }; inFlight: boolean }>();

const TFD = /^tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+)\s+pos:\s*\d+\s+ino:\s*([0-9a-f]+)/;

function fdIno(pid: number, fd: number): number | undefined {
  try {
    return fs.statSync(`/proc/${pid}/fd/${fd}`).ino;
  } catch {
    return undefined;
  }
}

export const epollFd: FdOps<FileOf<'epoll'>> = {
  kind: 'epoll',
  matches: (f) => f.link === 'anon_inode:[eventpoll]',
  dump: (f, ctx) => {
    const targets: EpollTarget[] = [];
    const seen = new Map<number, number>(); // registrations per fd number so far (kcmp's toff)
    // an epoll held only in flight in a unix socket's queue (its holder: the helper): every
    // registration names a number of its sender's, found by kcmp and made by the target's holder
    const inFlight = ctx.treePid !== undefined && ctx.treePid(f.pid) === undefined;
    for (const line of fs.readFileSync(`/proc/${f.pid}/fdinfo/${f.fd}`, 'latin1').split('\n')) {
      const m = TFD.exec(line);
      if (!m) continue;
      const [tfd, events, data, ino] = [Number(m[1]), parseInt(m[2]!, 16), BigInt(`0x${m[3]}`), parseInt(m[4]!, 16)];
      const toff = seen.get(tfd) ?? 0;
      seen.set(tfd, toff + 1);
      const holder = inFlight ? undefined : ctx.holders.find((h) => fdIno(h.pid, tfd) === ino);
      const target: EpollTarget = { task: (holder ?? f).pid, fd: tfd, events, data: data <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(data) : data };
      if (!holder) closedTargets.set(target, { ino, toff, epoll: { pid: f.pid, fd: f.fd }, inFlight });
      targets.push(target);
    }
    return { path: f.link, flags: f.info.flags, pos: 0, epoll: targets };
  },
  linked(file, tree) {
    linkClosedTargets(file, tree);
    // a file opened late (by its task in its finish step) is not there yet for a registration
    for (const t of file.epoll ?? []) {
      const target = t.file === undefined ? tree.fileAt(t.task, t.fd) : undefined; // else checked by linkClosedTargets
      if (target?.late)
        throw new UnsupportedError(`process ${t.task} fd ${t.fd} (${target.file.path}): ${target.late} registered in an epoll is not supported yet`, { pid: t.task, phase: 'files' });
    }
  },
  check() {},
  plan: (file) => planFileEpoll({ id: file.id, flags: openFileFlags(file.flags) }),
  taskPlan: (file, task, fd) =>
    (file.epoll ?? [])
      .filter((t) => t.task === task.pid && t.file === undefined)
      .map((t) => planEpctl({ epfd: fd, tfd: t.fd, events: t.events, data: t.data })),
};

/** The registrations whose number no longer holds their file, by registering task, built once
 * per image: the task need not hold the epoll (one held only in flight is held by none). */
const ghostsOf = new WeakMap<ImageFiles, Map<number, string[]>>();

/** Plan lines of the registrations a task makes with the epoll's and the target's helper fds. */
export function epollGhostLines(files: ImageFiles, pid: number): string[] {
  let m = ghostsOf.get(files);
  if (!m) {
    ghostsOf.set(files, (m = new Map()));
    for (const f of files.files) {
      if (f.kind !== 'epoll') continue;
      for (const t of f.epoll ?? []) {
        if (t.file === undefined) continue;
        const line = planEpghost({ epfile: f.id, tfd: t.fd, tfile: t.file, events: t.events, data: t.data });
        const l = m.get(t.task);
        if (l) l.push(line);
        else m.set(t.task, [line]);
      }
    }
  }
  return m.get(pid) ?? [];
}

/**
 * A registration whose fd number was closed by every task (or reused for another file) lives on
 * as long as its file does: the file is found among the tree's objects (kcmp KCMP_EPOLL_TFD
 * names it exactly), and on restart the registering task puts it at that number, registers it,
 * and closes the number again before its own fds take their places. A file the tree no longer
 * holds at any fd (only through the epoll, a mapping or a socket queue) is refused. An epoll
 * held only in flight (SCM_RIGHTS) has all its registrations made this way, each by the task
 * that holds the target (it inherits the epoll from the helper before closing it again).
 */
function linkClosedTargets(file: FileOf<'epoll'>, tree: TreeFiles): void {
  for (const t of file.epoll ?? []) {
    const c = closedTargets.get(t);
    if (!c) continue;
    const same = (x: { pid: number; fd: number }) => {
      try {
        return native().kcmpEpollTarget(x.pid, x.fd, c.epoll.pid, c.epoll.fd, t.fd, c.toff) === 0;
      } catch {
        return false;
      }
    };
    const hit = tree.atInode(c.ino).find(same);
    if (!hit)
      throw new UnsupportedError(
        `${c.inFlight ? 'an epoll in flight in a unix socket\'s queue' : `process ${c.epoll.pid} fd ${c.epoll.fd} (epoll)`}: target fd ${t.fd} was closed by every task and its file is held by no fd of the tree (the registration outlives it): not supported`,
        { pid: c.epoll.pid, object: `fd ${c.epoll.fd}`, phase: 'files' },
      );
    const late = tree.fileAt(hit.pid, hit.fd);
    if (late?.late)
      throw new UnsupportedError(`process ${hit.pid} fd ${hit.fd} (${late.file.path}): ${late.late} registered in an epoll is not supported yet`, { pid: hit.pid, phase: 'files' });
    t.file = hit.id;
    if (c.inFlight) t.task = hit.pid; // a task of the tree inherits the epoll from the helper
  }
}
