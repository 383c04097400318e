/** /dev/tty opened by a program: its controlling terminal (src/kernel/fds/devtty.ts). */
import { field, int, obj } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface DevTtyFile extends FileBase {
  kind: 'devtty';
  /** the terminal: tty, a pty pair of the image (its session leader, restored, opens /dev/tty
   * once it has taken it); absent: the terminal of the session ucr restart runs in (a job
   * restarted onto the caller's terminal) */
  devtty: { tty?: number };
}

export const devTtyFormat: FileFormat<DevTtyFile> = {
  kind: 'devtty',
  fields: ['devtty'],
  read(o, fw, _file, ctx) {
    if (o.devtty === undefined) fw.fail('/dev/tty without its terminal');
    const w = fw.at('devtty');
    const d = obj(o.devtty, w);
    if (d.tty === undefined) return { devtty: {} };
    const tty = field(d, 'tty', w, (y, ww) => int(y, ww, 0, (1 << 20) - 1));
    if (!ctx.ttys.has(tty)) w.fail('/dev/tty of an unknown pty');
    return { devtty: { tty } };
  },
  text: (f) => (f.devtty.tty === undefined ? " (the caller's terminal)" : ` (of pty ${f.devtty.tty})`),
  warnings: (f, holders) => (f.devtty.tty === undefined ? [`${holders}: /dev/tty of the job's terminal: restart opens /dev/tty of the terminal it runs on (none: the restart fails)`] : []),
};
