/**
 * Named pipes (FIFOs). Like anonymous pipes, the pipe (size, queued bytes) is in the FILES
 * record and every fd is one end of it; the pipe also records the FIFO's path. On restart the
 * helper opens the FIFO read-write (which never blocks and keeps the pipe alive), refills it,
 * and opens every end again through /proc/self/fd with its own access mode and flags, so no
 * open waits for a peer. The FIFO itself is a filesystem object: it must still exist.
 */
import fs from 'node:fs';
import { UcrError } from '../../errors.js';
import type { FdOps } from './types.js';
import { openFileFlags } from '../linux.js';

const O_ACCMODE = 3;
const END = ['read', 'write', 'both'] as const;

export const fifoEnd: FdOps = {
  kind: 'fifo',
  matches: (f) => f.stat.isFIFO() && f.link.startsWith('/'),
  dump: (f) => ({
    path: f.link,
    flags: f.info.flags,
    pos: 0,
    pipe: { id: f.stat.ino, end: END[f.info.flags & O_ACCMODE] ?? 'read' },
  }),
  check(file) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(file.path);
    } catch {
      /* below */
    }
    if (!st?.isFIFO())
      throw new UcrError(`FIFO ${file.path}: ${st ? 'is no longer a FIFO' : 'no longer exists'}: it cannot be reopened`, {
        code: 'EFILE',
        object: file.path,
        phase: 'check',
      });
  },
  plan: (file) => `file ${file.id} pipe ${file.pipe!.id} ${END.indexOf(file.pipe!.end)} ${openFileFlags(file.flags)}`,
};
