/**
 * memfd descriptors: name, open flags and offset. The memfd itself (size, contents, seals) is a
 * shared memory object of the tree (src/kernel/objects.ts), also reachable through mappings; the
 * fd refers to it by id. On restart the helper creates the object once and every memfd fd is
 * the object opened again (its own offset and access mode), so an fd and a mapping of one
 * memfd share it again.
 */
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';

export const memFd: FdOps<FileOf<'memfd'>> = {
  kind: 'memfd',
  matches: (f) => f.stat.isFile() && f.link.startsWith('/memfd:'),
  dump: (f) => ({
    path: f.link.slice('/memfd:'.length).replace(/ \(deleted\)$/, ''),
    flags: f.info.flags,
    pos: f.info.pos,
    // the inode until objects.ts numbers the objects (files.ts notes a path to reach it)
    obj: f.stat.ino,
  }),
  captured: (file, o, cap) => cap.objectPath(file.obj, `/proc/${o.holders[0]!.pid}/fd/${o.holders[0]!.fd}`),
  check() {},
  plan: (file) => `file ${file.id} reopen ${file.obj} ${file.flags} ${file.pos}`,
};
