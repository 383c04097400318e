/** Checks of a terminal's settings in an image: a pty pair's (FILES ttys) and the modes of the
 * terminal the root had on its stdio (an external file's ttyModes). */
import type { CborValue } from './cbor.js';
import { Where, arr, bytes, field, int, obj } from './check.js';
import type { Termios } from './types.js';

/** A terminal's settings: `termios` and `winsize` of o. */
export function checkTermios(o: Record<string, CborValue>, w: Where): { termios: Termios; winsize: [number, number, number, number] } {
  const tt = w.at('termios');
  const tio = obj(o.termios!, tt);
  const u32 = (k: string) => field(tio, k, tt, (y, w2) => int(y, w2, 0, 0xffffffff));
  return {
    termios: {
      iflag: u32('iflag'),
      oflag: u32('oflag'),
      cflag: u32('cflag'),
      lflag: u32('lflag'),
      line: field(tio, 'line', tt, (y, ww) => int(y, ww, 0, 255)),
      cc: field(tio, 'cc', tt, (y, ww) => bytes(y, ww, 0, 32)),
      ispeed: u32('ispeed'),
      ospeed: u32('ospeed'),
    },
    winsize: arr(o.winsize, w.at('winsize'), 4).map((y, k) => int(y, w.at('winsize').at(k), 0, 0xffff)) as [number, number, number, number],
  };
}

