/**
 * Pseudo-terminal pairs inside the tree: the master (/dev/ptmx) and slaves (/dev/pts/N) are file
 * objects of the pair N; the pair itself (termios, window size, lock, packet and exclusive
 * modes) is in the FILES record (ttys), read by the helper through the master (files.ts). On
 * restart the helper creates the pair again at index N, and a session leader whose
 * controlling terminal it was takes it back, with its foreground group (restart.ts plans
 * that). A slave whose master is outside the tree (a terminal emulator, ssh) is external stdio
 * when it is the root's, else refused.
 */
import { UnsupportedError } from '../../errors.js';
import type { FileOf, Termios, TtyImage } from '../../image/types.js';
import { hex, type Helper } from '../helper.js';
import type { FdOps } from './types.js';
import { openFileFlags } from '../linux.js';

const PTS = /^\/dev\/pts\/(\d+)$/;

export const ptyEnd: FdOps<FileOf<'pty'>> = {
  kind: 'pty',
  matches: (f) => f.stat.isCharacterDevice() && ((f.link === '/dev/ptmx' && f.info.extra.has('tty-index')) || PTS.test(f.link)),
  dump: (f) => {
    const master = f.link === '/dev/ptmx';
    const index = master ? Number(f.info.extra.get('tty-index')) : Number(PTS.exec(f.link)![1]);
    return { path: master ? f.link : `/dev/pts/${index}`, flags: f.info.flags, pos: 0, tty: { index, master } };
  },
  captured: async (file, o, cap) => {
    if (file.tty.master) cap.ttys.push(await readTty(cap.helper, o.holders[0]!, o.facts.link));
  },
  linked(file, tree) {
    if (tree.ttys.some((t) => t.index === file.tty.index)) return;
    const h = tree.holderOf(file.id);
    throw new UnsupportedError(`process ${h.pid} fd ${h.fd} (${file.path}): the terminal's master is not in the tree (a terminal emulator or ssh holds it): only the root's stdio can be such a terminal`, { pid: h.pid, phase: 'files' });
  },
  check() {},
  plan: (file) => `file ${file.id} ${file.tty.master ? 'ptmx' : 'pts'} ${file.tty.index} ${openFileFlags(file.flags)}`,
};

/** A pty pair's state, read by the helper through the master (native/helper/kinds/tty/dump_tty.c). Bytes
 * queued in either direction cannot be read back without taking them: refused. */
async function readTty(helper: Helper, h: { pid: number; fd: number }, link: string): Promise<TtyImage> {
  helper.send(`tty ${h.pid} ${h.fd}`);
  const t = (await helper.next('tty')) as unknown as Record<string, number | string>;
  const n = (k: string) => Number(t[k]);
  if (n('inq') || n('outq'))
    throw new UnsupportedError(
      `process ${h.pid} fd ${h.fd} (${link}, /dev/pts/${n('index')}): ${n('inq') + n('outq')} bytes are queued in the terminal (not yet read): not supported yet`,
      { pid: h.pid, phase: 'files' },
    );
  return {
    index: n('index'),
    locked: n('locked') === 1,
    packet: n('pkt') === 1,
    exclusive: n('excl') === 1,
    ...settingsOf(t),
  };
}

/** The helper plan line that creates a pty pair at its index with its settings. */
export function ttyLine(t: TtyImage): string {
  const settings = t.termios ? `1 ${settingsWords(t.termios, t.winsize!)}` : '0 0 0 0 0 0 00 0 0 0 0 0 0';
  return `tty ${t.index} ${t.locked ? 1 : 0} ${t.packet ? 1 : 0} ${t.exclusive ? 1 : 0} ${settings}`;
}

/** A terminal's settings as plan words (tty, ttymodes). */
export function settingsWords(tio: Termios, winsize: [number, number, number, number]): string {
  return `${tio.iflag} ${tio.oflag} ${tio.cflag} ${tio.lflag} ${tio.line} ${hex(tio.cc) || '00'} ${tio.ispeed} ${tio.ospeed} ${winsize.join(' ')}`;
}

/** The termios and window size the helper reported (tty, ttymodes), if it could read them. */
function settingsOf(t: Record<string, number | string>): { termios?: Termios; winsize?: [number, number, number, number] } {
  const n = (k: string) => Number(t[k]);
  if (n('settings') !== 1) return {};
  return {
    termios: { iflag: n('iflag'), oflag: n('oflag'), cflag: n('cflag'), lflag: n('lflag'), line: n('line'), cc: Buffer.from(String(t.cc), 'hex'), ispeed: n('ispeed'), ospeed: n('ospeed') },
    winsize: [n('rows'), n('cols'), n('xpix'), n('ypix')],
  };
}

/** The modes of a terminal the root has on its stdio (external): the job gets them back. */
export async function readTtyModes(helper: Helper, h: { pid: number; fd: number }): Promise<FileOf<'external'>['ttyModes']> {
  helper.send(`ttymodes ${h.pid} ${h.fd}`);
  const s = settingsOf((await helper.next('ttymodes')) as unknown as Record<string, number | string>);
  return s.termios && s.winsize ? { termios: s.termios, winsize: s.winsize } : undefined;
}
