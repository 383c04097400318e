/**
 * Open files whose path was unlinked ("/path (deleted)"): the file lives on only through its
 * fds and mappings, so its contents go into the image. Like a memfd, the file is a content
 * object of the tree (src/kernel/objects.ts: size, mode, pages holding data, streamed as OBJECT
 * records) and each fd refers to it. On restart the helper creates the file again at its path
 * (or, when a new file has taken that path, at a temporary name beside it), refills it and
 * unlinks it at once; every fd is the file reopened with its own flags and offset.
 * A directory that was removed while held open is the same, as an object of kind unlinked-dir
 * (no contents: a removed directory is empty), made again with mkdir and removed again.
 */
import { UnsupportedError } from '../../errors.js';
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';

const DELETED = ' (deleted)';

export const unlinkedFile: FdOps<FileOf<'unlinked'>> = {
  kind: 'unlinked',
  matches: (f) => (f.stat.isFile() || f.stat.isDirectory()) && f.link.startsWith('/') && f.link.endsWith(DELETED) && !f.link.startsWith('/memfd:'),
  dump: (f) => {
    if (f.stat.nlink > 0)
      throw new UnsupportedError(`process ${f.pid} fd ${f.fd} (${f.link}): unlinked from this path but still linked elsewhere: not supported yet`, { pid: f.pid });
    return {
      path: f.link.slice(0, -DELETED.length),
      flags: f.info.flags,
      pos: f.info.pos,
      // the inode until objects.ts numbers the objects (files.ts notes a path to reach it)
      obj: f.stat.ino,
    };
  },
  captured: (file, o, cap) => cap.objectPath(file.obj, `/proc/${o.holders[0]!.pid}/fd/${o.holders[0]!.fd}`),
  check() {},
  plan: (file) => `file ${file.id} reopen ${file.obj} ${file.flags} ${file.pos}`,
};
