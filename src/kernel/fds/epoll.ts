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
import type { EpollTarget } from '../../image/types.js';
import type { FdOps } from './types.js';

const TFD = /^tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+)\s+pos:\s*\d+\s+ino:\s*([0-9a-f]+)/;

function fdIno(pid: number, fd: number): number | undefined {
  try {
    return fs.statSync(`/proc/${pid}/fd/${fd}`).ino;
  } catch {
    return undefined;
  }
}

export const epollFd: FdOps = {
  kind: 'epoll',
  matches: (f) => f.link === 'anon_inode:[eventpoll]',
  dump: (f, ctx) => {
    const targets: EpollTarget[] = [];
    for (const line of fs.readFileSync(`/proc/${f.pid}/fdinfo/${f.fd}`, 'latin1').split('\n')) {
      const m = TFD.exec(line);
      if (!m) continue;
      const [tfd, events, data, ino] = [Number(m[1]), parseInt(m[2]!, 16), BigInt(`0x${m[3]}`), parseInt(m[4]!, 16)];
      const holder = ctx.holders.find((h) => fdIno(h.pid, tfd) === ino);
      if (!holder)
        throw new UnsupportedError(
          `process ${f.pid} fd ${f.fd} (epoll): target fd ${tfd} was closed by every task that holds the epoll (the registration outlives it): not supported`,
          { pid: f.pid, object: `fd ${f.fd}`, phase: 'files' },
        );
      targets.push({ task: holder.pid, fd: tfd, events, data: data <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(data) : data });
    }
    return { path: f.link, flags: f.info.flags, pos: 0, epoll: targets };
  },
  check() {},
  plan: (file) => `file ${file.id} epoll ${file.flags & ~0o2000000}`,
  taskPlan: (file, task, fd) => (file.epoll ?? []).filter((t) => t.task === task.pid).map((t) => `epctl ${fd} ${t.fd} ${t.events} ${t.data}`),
};
