/**
 * Pseudo-terminal pairs inside the tree: the master (/dev/ptmx) and slaves (/dev/pts/N) are file
 * objects of the pair N; the pair itself (termios, window size, lock, packet and exclusive
 * modes) is in the FILES record (ttys), read by the helper through the master (files.ts). On
 * restart the helper creates the pair again at index N, and a session leader whose
 * controlling terminal it was takes it back, with its foreground group (restart.ts plans
 * that). A slave whose master is outside the tree (a terminal emulator, ssh) is external stdio
 * when it is the root's, else refused.
 */
import type { FdOps } from './types.js';
import { openFileFlags } from '../linux.js';

const PTS = /^\/dev\/pts\/(\d+)$/;

export const ptyEnd: FdOps = {
  kind: 'pty',
  matches: (f) => f.stat.isCharacterDevice() && ((f.link === '/dev/ptmx' && f.info.extra.has('tty-index')) || PTS.test(f.link)),
  dump: (f) => {
    const master = f.link === '/dev/ptmx';
    const index = master ? Number(f.info.extra.get('tty-index')) : Number(PTS.exec(f.link)![1]);
    return { path: master ? f.link : `/dev/pts/${index}`, flags: f.info.flags, pos: 0, tty: { index, master } };
  },
  check() {},
  plan: (file) => `file ${file.id} ${file.tty!.master ? 'ptmx' : 'pts'} ${file.tty!.index} ${openFileFlags(file.flags)}`,
};
