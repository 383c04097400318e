/**
 * /dev/tty opened by a program (5:0): a file of the terminal that was the opener's controlling
 * terminal then. The helper tells which terminal (TIOCGDEV on a copy of the fd); it must still
 * be the controlling terminal of every task holding it. On restart /dev/tty is opened again in
 * the restored session once it has that terminal: for a pty of the tree by its session leader
 * right after it takes the pty (act ctty), so every task of the session, created after,
 * inherits it; for a session whose leader is not in the tree (a job restarted onto the
 * caller's terminal) by the helper, in the caller's session. Refused: a /dev/tty whose
 * terminal was hung up, that is no longer its holders' controlling terminal, or whose session
 * leader is in the tree while its terminal is not a pty of the tree.
 */
import { UnsupportedError } from '../../errors.js';
import type { FileOf } from '../../image/types.js';
import { readStat } from '../proc.js';
import { openFileFlags } from '../linux.js';
import { planFileDevtty } from '../protocol.gen.js';
import type { FdOps } from './types.js';
import { ttyDevice } from './pty.js';

const DEV_TTY = 0x500; // 5:0
/** /dev/tty of the caller's terminal that was a pty at checkpoint: refused if the tree holds that pty */
const callerPty = new WeakMap<object, number>();
const EIO = 5;

/** a pty slave's index from its device number (majors 136-143), as /proc/PID/stat's tty_nr encodes it */
function ptyIndex(dev: number): number | undefined {
  const major = (dev >> 8) & 0xfff;
  if (major < 136 || major > 143) return undefined;
  return (major - 136) * 256 + ((dev & 0xff) | ((dev >> 12) & 0xfff00));
}

const devName = (dev: number) => {
  const i = ptyIndex(dev);
  return i === undefined ? `${(dev >> 8) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}` : `/dev/pts/${i}`;
};

export const devTty: FdOps<FileOf<'devtty'>> = {
  kind: 'devtty',
  matches: (f) => f.stat.isCharacterDevice() && f.stat.rdev === DEV_TTY,
  dump: (f) => ({ path: '/dev/tty', flags: f.info.flags, pos: 0, devtty: {} }),
  captured: async (file, o, cap) => {
    const h = o.holders[0]!;
    const refuse = (why: string) => new UnsupportedError(`process ${h.pid} fd ${h.fd} (/dev/tty): ${why}`, { pid: h.pid, object: `fd ${h.fd}`, phase: 'files' });
    const { dev, err } = await ttyDevice(cap.helper, h);
    if (err) throw refuse(err === EIO ? 'its terminal was hung up: not supported yet' : `cannot tell its terminal (errno ${err}): not supported`);
    for (const x of o.holders)
      if (readStat(x.pid).ttyNr !== dev) throw refuse(`its terminal ${devName(dev)} is not the controlling terminal of process ${x.pid} any more: not supported`);
    const inTree = o.ctx.treePid?.(readStat(h.pid).sid) !== undefined;
    const tty = ptyIndex(dev);
    if (inTree && tty === undefined) throw refuse(`its terminal ${devName(dev)} is not a pty of the tree, and its session leader is in the tree (the restart cannot give that session this terminal): not supported`);
    file.devtty = inTree ? { tty } : {};
    if (!inTree && tty !== undefined) callerPty.set(file, tty);
  },
  linked(file, tree) {
    const h = tree.holderOf(file.id);
    const outside = callerPty.get(file);
    if (outside !== undefined && tree.ttys.some((t) => t.index === outside))
      throw new UnsupportedError(`process ${h.pid} fd ${h.fd} (/dev/tty): its terminal /dev/pts/${outside} is a pty of the tree, but the leader of its session is not in the tree: not supported`, { pid: h.pid, phase: 'files' });
    if (file.devtty.tty === undefined || tree.ttys.some((t) => t.index === file.devtty.tty)) return;
    throw new UnsupportedError(`process ${h.pid} fd ${h.fd} (/dev/tty): its terminal /dev/pts/${file.devtty.tty} is the controlling terminal of a session of the tree, but its master is not in the tree: not supported`, { pid: h.pid, phase: 'files' });
  },
  check() {},
  plan: (file) => planFileDevtty({ id: file.id, tty: file.devtty.tty ?? -1, flags: openFileFlags(file.flags) }),
};
