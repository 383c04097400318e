/** signalfd: the signal mask it reads (fdinfo), recreated by the helper. params: [mask] */
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';
import { planFileSignalfd } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

export const signalFd: FdOps<FileOf<'signalfd'>> = {
  kind: 'signalfd',
  matches: (f) => f.link === 'anon_inode:[signalfd]',
  dump: (f) => {
    const m = BigInt('0x' + (f.info.extra.get('sigmask') ?? '0'));
    return { path: f.link, flags: f.info.flags, pos: 0, params: [m <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(m) : m] };
  },
  check() {},
  plan: (file) => planFileSignalfd({ id: file.id, mask: file.params[0]!, flags: openFileFlags(file.flags) }),
};
