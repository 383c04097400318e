/**
 * Anonymous pipes. Both ends are open file objects (read end, write end) of one pipe; the pipe
 * itself (size and queued bytes, read without consuming them with tee()) is in the FILES
 * record. On restart the helper creates the pipe, refills it, and every task inherits the ends.
 */
import type { FileOf, PipeImage } from '../../image/types.js';
import type { FdOps } from './types.js';
import { planFilePipe, planPipe } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

const O_ACCMODE = 3;
const O_WRONLY = 1;

export const pipeEnd: FdOps<FileOf<'pipe'>> = {
  kind: 'pipe',
  matches: (f) => f.stat.isFIFO() && f.link.startsWith('pipe:'),
  dump: (f) => ({
    path: f.link,
    flags: f.info.flags,
    pos: 0,
    pipe: { id: f.stat.ino, end: (f.info.flags & O_ACCMODE) === O_WRONLY ? 'write' : 'read' },
  }),
  captured(file, o, cap) {
    file.pipe.id = cap.pipe(o);
  },
  check() {},
  plan: (file) => planFilePipe({ id: file.id, pipe: file.pipe.id, end: file.pipe.end === 'write' ? 1 : 0, flags: openFileFlags(file.flags) }),
};

/** The helper plan line that creates a pipe (anonymous or a FIFO's) and refills it. */
export const pipeLine = (p: PipeImage) => planPipe({ id: p.id, size: p.size, data: p.data, path: p.path, ghost: p.ghost?.mode });
