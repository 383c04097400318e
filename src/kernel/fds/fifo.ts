/**
 * Named pipes (FIFOs). Like anonymous pipes, the pipe (size, queued bytes) is in the FILES
 * record and every fd is one end of it; the pipe also records the FIFO's path. On restart the
 * helper opens the FIFO read-write (which never blocks and keeps the pipe alive), refills it,
 * and opens every end again through /proc/self/fd with its own access mode and flags, so no
 * open waits for a peer. The FIFO itself is a filesystem object: it must still exist, unless
 * it was removed since it was opened ("PATH (deleted)"): then the helper makes it again there
 * (or beside it when the path is taken), with its holder's credentials and its mode, opens it
 * and removes it again (the pipe's `ghost`).
 */
import fs from 'node:fs';
import { UcrError } from '../../errors.js';
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';
import { planFilePipe } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

const O_ACCMODE = 3;
const DELETED = ' (deleted)';
const END = ['read', 'write', 'both'] as const;

export const fifoEnd: FdOps<FileOf<'fifo'>> = {
  kind: 'fifo',
  matches: (f) => f.stat.isFIFO() && f.link.startsWith('/'),
  dump: (f) => ({
    path: f.link,
    flags: f.info.flags,
    pos: 0,
    pipe: { id: f.stat.ino, end: END[f.info.flags & O_ACCMODE] ?? 'read' },
  }),
  // a FIFO is found again by its path: reopened, it is the same pipe as long as the outside
  // holder keeps it open (its bytes stay in it; restart does not add them again)
  sharedOutside: (o, outside) =>
    `process ${o.holders[0]!.pid} fd ${o.holders[0]!.fd} (FIFO ${o.facts.link}) is also open in process ${outside.pid} (${outside.comm}) outside the checkpointed tree: the restart opens the FIFO again by its path`,
  captured(file, o, cap) {
    const removed = file.path.endsWith(DELETED);
    file.pipe.id = removed ? cap.pipe(o, file.path.slice(0, -DELETED.length), { mode: o.facts.stat.mode & 0o7777 }) : cap.pipe(o, file.path);
  },
  check(file) {
    if (file.path.endsWith(DELETED)) return; /* made again by the helper */
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
  plan: (file) => planFilePipe({ id: file.id, pipe: file.pipe.id, end: END.indexOf(file.pipe.end), flags: openFileFlags(file.flags) }),
};
