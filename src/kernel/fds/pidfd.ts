/**
 * pidfds (anon_inode:[pidfd]) of a process of the tree: the tree's root of itself, a parent of
 * its child, any task of another. fdinfo names the process (`Pid:`, as ucr's /proc sees it);
 * the record keeps its pid in the image and the flags (O_NONBLOCK, PIDFD_THREAD = O_EXCL). Like
 * a file of /proc it names a task (also a zombie of the tree: restored as a zombie, reaped
 * through the pidfd after the restart), so it is opened late: each task that holds one makes it
 * itself in its finish step, once every task exists (pidfd_open of the restored pid, the new
 * one under --pids), and dups it to its other fds. A pidfd of a process that has exited and was
 * reaped (Pid: -1) is made by the helper: one short-lived process per such process (the pidfds
 * of one have one pidfs inode), its pidfds opened, then reaped (native/helper/kinds/pidfd). A
 * pidfd of a process outside the tree or of a thread that is not a process (PIDFD_THREAD) is
 * refused.
 */
import fs from 'node:fs';
import { UnsupportedError } from '../../errors.js';
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';
import { planFileDeadpidfd, planFilePidfd } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

const readStatus = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return '';
  }
};

export const pidFd: FdOps<FileOf<'pidfd'>> = {
  kind: 'pidfd',
  matches: (f) => f.link === 'anon_inode:[pidfd]',
  dump: (f, ctx) => {
    const target = Number(f.info.extra.get('Pid') ?? -1);
    const refuse = (why: string) => new UnsupportedError(`process ${f.pid} fd ${f.fd} (${f.link}): ${why}: not supported`, { pid: f.pid, object: `fd ${f.fd}`, phase: 'files' });
    if (!(target > 0)) return { path: f.link, flags: f.info.flags, pos: 0, pidfd: { pid: 0, dead: f.stat.ino } };
    const pid = ctx.treePid?.(target) ?? ctx.zombiePid?.(target);
    if (pid === undefined) {
      const tgid = Number(/^Tgid:\s*(\d+)/m.exec(readStatus(target))?.[1]);
      if (tgid !== target && ctx.treePid?.(tgid) !== undefined) throw refuse(`a pidfd of thread ${target} of process ${tgid} (PIDFD_THREAD of a thread that is not the process)`);
      throw refuse(`a pidfd of process ${target}, which is not a process of the tree`);
    }
    return { path: f.link, flags: f.info.flags, pos: 0, pidfd: { pid } };
  },
  late: 'a pidfd',
  check() {},
  plan: (file) =>
    file.pidfd.dead !== undefined
      ? planFileDeadpidfd({ id: file.id, group: file.pidfd.dead, flags: openFileFlags(file.flags) })
      : planFilePidfd({ id: file.id, pid: file.pidfd.pid, flags: openFileFlags(file.flags) }),
};
