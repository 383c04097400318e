/** An end of a pseudo-terminal pair of the tree: the pair is one of the FILES record's ttys
 * (src/kernel/fds/pty.ts). */
import { bool, field, int, obj } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface PtyFile extends FileBase {
  kind: 'pty';
  /** which pair (/dev/pts/N) and which side; hungup: a hung up slave (its master was closed
   * and its /dev/pts/N is gone, or vhangup()), restored as a new pair's slave whose master is
   * closed again */
  tty: { index: number; master: boolean; hungup?: true };
}

export const ptyFormat: FileFormat<PtyFile> = {
  kind: 'pty',
  fields: ['tty'],
  read(o, w, _file, ctx) {
    if (o.tty === undefined) w.fail('a terminal end without its pty');
    const tw = w.at('tty');
    const t = obj(o.tty, tw);
    const hungup = t.hungup === undefined ? false : field(t, 'hungup', tw, bool);
    const tty = { index: field(t, 'index', tw, (y, ww) => int(y, ww, 0, 1 << 20)), master: field(t, 'master', tw, bool), ...(hungup ? { hungup: true as const } : {}) };
    if (hungup && tty.master) tw.fail('a hung up pty master');
    if (!hungup && !ctx.ttys.has(tty.index)) tw.fail('a terminal end of an unknown pty');
    return { tty };
  },
  text: (f) => ` (pty ${f.tty.index} ${f.tty.master ? 'master' : 'slave'}${f.tty.hungup ? ', hung up' : ''})`,
};
