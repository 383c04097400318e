/**
 * stdio that the task inherited from outside (a terminal, a pipe or socket of the launching
 * shell). The object itself is not saved: on restart the fd is connected to the restarting
 * process's own stdio slot of the same number (the linux-cr / CRIU "external" model).
 */
import type { FdOps } from './types.js';

export const externalStdio: FdOps = {
  kind: 'external',
  matches: (f) => f.fd <= 2 && (f.stat.isCharacterDevice() || f.stat.isFIFO() || f.stat.isSocket()),
  dump: (f) => ({ path: f.link, flags: f.info.flags, pos: 0, stdio: f.fd }),
  check() {},
  plan: (file, fd, ctx) => `fd ${fd.fd} inherit ${ctx.stdioFd(file.stdio ?? fd.fd)} ${fd.cloexec ? 1 : 0}`,
};
