/**
 * Sockets left out with `checkpoint --skip sockets`: recorded (inspect lists them) but not
 * restored. No fd refers to them in the image, so after a restart the program finds the fd
 * closed (EBADF; the number is free for its next open or socket call).
 */
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';

export const skippedSocket: FdOps<FileOf<'closed'>> = {
  kind: 'closed',
  matches: (f, ctx) => f.stat.isSocket() && ctx.skipSockets === true,
  dump: (f) => ({ path: f.link, flags: f.info.flags, pos: 0 }),
  unsaved: true,
  captured(_file, o, cap) {
    cap.warn(`process ${o.holders[0]!.pid} fd ${o.holders[0]!.fd} (${o.facts.link}): skipped, the restarted process finds it closed`);
  },
  check() {},
  plan: () => '',
};
