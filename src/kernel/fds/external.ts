/**
 * stdio that the tree inherited from outside: the root's fd 0-2 when it is a terminal or a
 * socket (sockets are not restored yet), or a pipe or file that a process outside the tree
 * (the launching shell) holds too. The
 * object itself is not saved: on restart the fd is connected to the restarting process's own
 * stdio slot of the same number (the linux-cr / CRIU "external" model).
 */
import type { FdOps } from './types.js';

export const externalStdio: FdOps = {
  kind: 'external',
  matches: (f, ctx) =>
    ctx.rootStdio !== undefined &&
    (f.stat.isCharacterDevice() ? /^\/dev\/(pts\/|tty|console)/.test(f.link) : f.stat.isSocket() || ctx.heldOutside),
  dump: (f, ctx) => ({ path: f.link, flags: f.info.flags, pos: 0, stdio: ctx.rootStdio }),
  check() {},
  plan: (file, ctx) => `file ${file.id} inherit ${ctx.stdioFd(file.stdio ?? 0)}`,
};
