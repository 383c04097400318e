/**
 * Sockets left out with `checkpoint --skip sockets`: recorded (inspect lists them) but not
 * restored. No fd refers to them in the image, so after a restart the program finds the fd
 * closed (EBADF; the number is free for its next open or socket call).
 */
import type { FdOps } from './types.js';

export const skippedSocket: FdOps = {
  kind: 'closed',
  matches: (f, ctx) => f.stat.isSocket() && ctx.skipSockets === true,
  dump: (f) => ({ path: f.link, flags: f.info.flags, pos: 0 }),
  check() {},
  plan: () => '',
};
