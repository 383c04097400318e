/** eventfd: the counter (hex in fdinfo) and the semaphore flag, recreated by the helper.
 * params: [count, semaphore 0|1] */
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';
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
  plan: (file) => `file ${file.id} eventfd ${file.params[0]} ${file.params[1]} ${openFileFlags(file.flags)}`,
};
