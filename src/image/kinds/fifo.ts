/** Ends of FIFOs: the pipe (size, queued bytes, the FIFO's path) is one of the FILES record's
 * pipes (src/kernel/fds/fifo.ts). */
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';
import { pipeEnd, pipeText } from './pipe.js';

export interface FifoFile extends FileBase {
  kind: 'fifo';
  /** which pipe and which end ('both': opened O_RDWR) */
  pipe: { id: number; end: 'read' | 'write' | 'both' };
}

export const fifoFormat: FileFormat<FifoFile> = {
  kind: 'fifo',
  fields: ['pipe'],
  read: (o, w, _file, ctx) => ({ pipe: pipeEnd(o, w, ctx, true) }),
  text: pipeText,
  named: true,
};
