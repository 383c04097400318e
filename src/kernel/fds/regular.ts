/**
 * Regular files and directories, reopened by path with their flags and offset. A regular file's
 * size, device and inode are recorded (params: [size, dev, ino]; older images: [size]) and
 * checked on restart (--file-validation): another file at the path (another inode or device,
 * even of the same size and mtime), a file open for writing whose size changed, or an offset
 * beyond the end, means the file is not the one the program had, and the restart is refused,
 * naming it.
 */
import fs from 'node:fs';
import { UcrError } from '../../errors.js';
import { systemErrorText } from '../../errno.js';
import { hex } from '../helper.js';
import { identityChange } from '../identity.js';
import type { FdOps } from './types.js';

export const regularFile: FdOps = {
  kind: 'regular',
  matches: (f) => (f.stat.isFile() || f.stat.isDirectory()) && f.link.startsWith('/') && !f.link.endsWith(' (deleted)'),
  dump: (f) => ({ path: f.link, flags: f.info.flags, pos: f.info.pos, ...(f.stat.isFile() ? { params: [f.stat.size, f.stat.dev, f.stat.ino] } : {}) }),
  check(file, opts) {
    let st: fs.Stats;
    try {
      st = fs.statSync(file.path);
    } catch (e) {
      throw new UcrError(`file ${file.path}: cannot be reopened: ${systemErrorText(e)}`, {
        code: 'EFILE',
        object: file.path,
        phase: 'check',
      });
    }
    const size = file.params?.[0];
    if (opts.fileValidation === 'off' || size === undefined || !st.isFile()) return;
    const writing = (file.flags & 3) !== 0;
    const [, dev, ino] = file.params!;
    const why =
      (ino !== undefined ? identityChange(st, { ino, dev }) : undefined) ??
      (writing && st.size !== Number(size)
        ? `its size is ${st.size} bytes, it was ${size} at checkpoint`
        : file.pos > st.size
          ? `its size is ${st.size} bytes, below the saved offset ${file.pos}`
          : undefined);
    if (why)
      throw new UcrError(`file ${file.path}: changed since the checkpoint (${why}); restart with --file-validation=off to accept it`, {
        code: 'EFILE',
        object: file.path,
        phase: 'check',
      });
  },
  plan: (file) => `file ${file.id} path ${hex(file.path)} ${file.flags} ${file.pos}`,
};
