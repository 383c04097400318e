/**
 * Pseudo-terminal pairs inside the tree: the master (/dev/ptmx) and slaves (/dev/pts/N) are file
 * objects of the pair N; the pair itself (termios, window size, lock, packet and exclusive
 * modes) is in the FILES record (ttys), read by the helper through the master (files.ts). On
 * restart the helper creates the pair again at index N, and a session leader whose
 * controlling terminal it was takes it back, with its foreground group (restart.ts plans
 * that). A slave whose master is outside the tree (a terminal emulator, ssh) is external stdio
 * when it is the root's, else refused. A slave whose master was closed (hung up) is a new pair's
 * slave whose master is closed again. /dev/tty is its own kind (devtty.ts).
 */
import { UnsupportedError } from '../../errors.js';
import type { FileOf, Termios, TtyImage } from '../../image/types.js';
import type { Helper } from '../helper.js';
import type { FdOps } from './types.js';
import { dumpTty, dumpTtydev, dumpTtymodes, planFilePtmx, planFilePts, planFilePtshup, planTty, planTtymodes, type EvTty, type EvTtymodes } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

/** a slave, and one whose master was closed (the kernel hung it up and removed /dev/pts/N) */
const PTS = /^\/dev\/pts\/(\d+)( \(deleted\))?$/;

export const ptyEnd: FdOps<FileOf<'pty'>> = {
  kind: 'pty',
  matches: (f) => f.stat.isCharacterDevice() && ((f.link === '/dev/ptmx' && f.info.extra.has('tty-index')) || PTS.test(f.link)),
  dump: (f) => {
    const master = f.link === '/dev/ptmx';
    const m = PTS.exec(f.link);
    const index = master ? Number(f.info.extra.get('tty-index')) : Number(m![1]);
    return { path: master ? f.link : `/dev/pts/${index}`, flags: f.info.flags, pos: 0, tty: { index, master, ...(m?.[2] ? { hungup: true } : {}) } };
  },
  captured: async (file, o, cap) => {
    if (file.tty.master) return void cap.ttys.push(await readTty(cap.helper, o.holders[0]!, o.facts.link));
    // a slave hung up (its master closed, or vhangup()) reads EOF and writes EIO for good
    const h = o.holders[0]!;
    const hungup = (await ttyDevice(cap.helper, h)).err === EIO;
    if (file.tty.hungup && !hungup)
      throw new UnsupportedError(`process ${h.pid} fd ${h.fd} (${o.facts.link}): a terminal whose /dev/pts node is gone but which was not hung up: not supported`, { pid: h.pid, phase: 'files' });
    if (hungup) file.tty = { ...file.tty, hungup: true };
  },
  linked(file, tree) {
    if (file.tty.hungup || tree.ttys.some((t) => t.index === file.tty.index)) return;
    const h = tree.holderOf(file.id);
    throw new UnsupportedError(`process ${h.pid} fd ${h.fd} (${file.path}): the terminal's master is not in the tree (a terminal emulator or ssh holds it): only the root's stdio can be such a terminal`, { pid: h.pid, phase: 'files' });
  },
  check() {},
  plan: (file) =>
    file.tty.hungup ? planFilePtshup({ id: file.id, flags: openFileFlags(file.flags) }) : (file.tty.master ? planFilePtmx : planFilePts)({ id: file.id, tty: file.tty.index, flags: openFileFlags(file.flags) }),
};

const EIO = 5;

/** The terminal a tty fd leads to (TIOCGDEV: a /dev/tty fd's terminal), or the errno (EIO: hung up). */
export async function ttyDevice(helper: Helper, h: { pid: number; fd: number }): Promise<{ dev: number; err: number }> {
  helper.send(dumpTtydev({ pid: h.pid, fd: h.fd }));
  const d = await helper.next('ttydev');
  return { dev: d.dev, err: d.err };
}

/** A pty pair's state, read by the helper through the master (native/helper/kinds/tty/dump_tty.c):
 * its settings, the owner and mode of /dev/pts/N, and the bytes queued both ways, which the
 * helper reads and puts back at once (tty_queue.c). What it cannot read is refused: output
 * queued at a packet-mode master (its reads mix in status bytes), or bytes queued in a pair
 * whose slave cannot be opened (locked). */
async function readTty(helper: Helper, h: { pid: number; fd: number }, link: string): Promise<TtyImage> {
  helper.send(dumpTty({ pid: h.pid, fd: h.fd }));
  const t = await helper.next('tty');
  const what = `process ${h.pid} fd ${h.fd} (${link}, /dev/pts/${t.index})`;
  if (t.pkt === 1 && t.outq)
    throw new UnsupportedError(`${what}: ${t.outq} bytes the terminal wrote wait at its packet-mode master: not supported yet`, { pid: h.pid, phase: 'files' });
  if (t.settings === 1 && t.output !== 1 && t.outq)
    throw new UnsupportedError(`${what}: ${t.outq} bytes the terminal wrote wait at its master while its output is stopped (Ctrl-S) or full: not supported yet`, { pid: h.pid, phase: 'files' });
  if (t.settings === 1 && t.input !== 1 && t.inq)
    throw new UnsupportedError(`${what}: ${t.inq} bytes wait for the terminal's reader, and putting them back needs CAP_SYS_ADMIN (TIOCSTI): not supported`, { pid: h.pid, phase: 'files' });
  if (t.settings !== 1 && (t.inq || t.outq))
    throw new UnsupportedError(`${what}: ${t.inq + t.outq} bytes are queued in a terminal whose slave cannot be opened (locked): not supported yet`, { pid: h.pid, phase: 'files' });
  const lines = t.lines ? t.lines.split(',').map((x) => (x === 'z' ? new Uint8Array(0) : Buffer.from(x, 'hex'))) : [];
  const queued = { ...(t.out ? { out: Buffer.from(t.out, 'hex') } : {}), ...(lines.length ? { lines } : {}), ...(t.partial ? { partial: Buffer.from(t.partial, 'hex') } : {}) };
  return {
    index: t.index, locked: t.locked === 1, packet: t.pkt === 1, exclusive: t.excl === 1, ...settingsOf(t),
    ...(t.uid >= 0 && t.gid >= 0 && t.mode >= 0 ? { owner: { uid: t.uid, gid: t.gid, mode: t.mode } } : {}),
    ...(Object.keys(queued).length ? { queued } : {}),
  };
}

/** The helper plan line that creates a pty pair at its index with its settings. */
export function ttyLine(t: TtyImage): string {
  const tio = t.termios;
  const [rows, cols, xpix, ypix] = t.winsize ?? [0, 0, 0, 0];
  const q = t.queued;
  const hex = (b: Uint8Array) => (b.length ? Buffer.from(b).toString('hex') : 'z');
  return planTty({
    index: t.index, locked: t.locked, pkt: t.packet, excl: t.exclusive, settings: !!tio,
    iflag: tio?.iflag ?? 0, oflag: tio?.oflag ?? 0, cflag: tio?.cflag ?? 0, lflag: tio?.lflag ?? 0, line: tio?.line ?? 0,
    cc: tio?.cc.length ? tio.cc : new Uint8Array(1), ispeed: tio?.ispeed ?? 0, ospeed: tio?.ospeed ?? 0,
    rows: tio ? rows : 0, cols: tio ? cols : 0, xpix: tio ? xpix : 0, ypix: tio ? ypix : 0,
    uid: t.owner?.uid ?? -1, gid: t.owner?.gid ?? -1, mode: t.owner?.mode ?? -1,
    out: q?.out ?? new Uint8Array(0), lines: q?.lines?.length ? q.lines.map(hex).join(',') : '-', partial: q?.partial ?? new Uint8Array(0),
  });
}

/** The modes the job's terminal had (ttyModes of the root's external stdio), as a plan line. */
export function ttyModesLine(m: { termios: Termios; winsize: [number, number, number, number] }): string {
  const [rows, cols, xpix, ypix] = m.winsize;
  const t = m.termios;
  return planTtymodes({ iflag: t.iflag, oflag: t.oflag, cflag: t.cflag, lflag: t.lflag, line: t.line, cc: t.cc.length ? t.cc : new Uint8Array(1), ispeed: t.ispeed, ospeed: t.ospeed, rows, cols, xpix, ypix });
}

/** The termios and window size the helper reported (tty, ttymodes), if it could read them. */
function settingsOf(t: EvTty | EvTtymodes): { termios?: Termios; winsize?: [number, number, number, number] } {
  if (t.settings !== 1) return {};
  return {
    termios: { iflag: t.iflag, oflag: t.oflag, cflag: t.cflag, lflag: t.lflag, line: t.line, cc: Buffer.from(t.cc, 'hex'), ispeed: t.ispeed, ospeed: t.ospeed },
    winsize: [t.rows, t.cols, t.xpix, t.ypix],
  };
}

/** The modes of a terminal the root has on its stdio (external): the job gets them back. */
export async function readTtyModes(helper: Helper, h: { pid: number; fd: number }): Promise<FileOf<'external'>['ttyModes']> {
  helper.send(dumpTtymodes({ pid: h.pid, fd: h.fd }));
  const s = settingsOf(await helper.next('ttymodes'));
  return s.termios && s.winsize ? { termios: s.termios, winsize: s.winsize } : undefined;
}
