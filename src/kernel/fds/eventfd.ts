/** eventfd: the counter (hex in fdinfo) and the semaphore flag, recreated by the helper.
 * params: [count, semaphore 0|1] */
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';
import { planFileEventfd } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

export const eventFd: FdOps<FileOf<'eventfd'>> = {
  kind: 'eventfd',
  matches: (f) => f.link === 'anon_inode:[eventfd]',
  dump: (f) => ({
    path: f.link,
    flags: f.info.flags,
    pos: 0,
    params: [parseInt(f.info.extra.get('eventfd-count') ?? '0', 16), f.info.extra.get('eventfd-semaphore') === '1' ? 1 : 0],
  }),
  check() {},
  plan: (file) => planFileEventfd({ id: file.id, count: file.params[0]!, semaphore: file.params[1] === 1, flags: openFileFlags(file.flags) }),
};
