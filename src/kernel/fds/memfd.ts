/**
 * memfd: name, open flags and offset, contents (at most 4 MiB, carried in the FILES record) and
 * seals (asked from the helper by files.ts). The helper recreates it with memfd_create, refills
 * it, reopens it with the saved access mode when that is not read-write, then seals it.
 * params: [seals]
 */
import fs from 'node:fs';
import { UnsupportedError } from '../../errors.js';
import { MEMFD_MAX } from '../../image/validate.js';
import { hex } from '../helper.js';
import type { FdOps } from './types.js';

export const memFd: FdOps = {
  kind: 'memfd',
  matches: (f) => f.stat.isFile() && f.link.startsWith('/memfd:'),
  dump: (f) => {
    if (f.stat.size > MEMFD_MAX)
      throw new UnsupportedError(`process ${f.pid} fd ${f.fd} (${f.link}): memfds over ${MEMFD_MAX >> 20} MiB are not supported yet`, { pid: f.pid });
    return {
      path: f.link.slice('/memfd:'.length).replace(/ \(deleted\)$/, ''),
      flags: f.info.flags,
      pos: f.info.pos,
      params: [0],
      data: fs.readFileSync(`/proc/${f.pid}/fd/${f.fd}`),
    };
  },
  check() {},
  plan: (file) =>
    `file ${file.id} memfd ${hex(file.path) || '00'} ${file.flags} ${file.pos} ${file.params![0]} ${file.data?.length ? hex(file.data) : '-'}`,
};
