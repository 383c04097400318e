/**
 * The one registry of fd kinds. Order matters: the first kind whose matches() accepts an object
 * takes it. Adding a kind = one module here plus nothing else in TypeScript.
 */
import { UnsupportedError } from '../../errors.js';
import { statelessDevice } from './device.js';
import { epollFd } from './epoll.js';
import { eventFd } from './eventfd.js';
import { externalStdio } from './external.js';
import { fifoEnd } from './fifo.js';
import { inotifyFd } from './inotify.js';
import { memFd } from './memfd.js';
import { pipeEnd } from './pipe.js';
import { procFile } from './proc.js';
import { ptyEnd } from './pty.js';
import { regularFile } from './regular.js';
import { signalFd } from './signalfd.js';
import { timerFd } from './timerfd.js';
import { skippedSocket } from './closed.js';
import { unlinkedFile } from './unlinked.js';
import { inetSocket, otherSocketReason } from './inet.js';
import { unixSocket } from './unix.js';
import type { FdFacts, FdOps, ObjectContext } from './types.js';

const kinds: FdOps[] = [
  externalStdio,
  skippedSocket,
  procFile,
  regularFile,
  statelessDevice,
  pipeEnd,
  fifoEnd,
  ptyEnd,
  eventFd,
  signalFd,
  timerFd,
  epollFd,
  inotifyFd,
  memFd,
  unlinkedFile,
  unixSocket,
  inetSocket,
];
const byKind = new Map(kinds.map((k) => [k.kind, k]));

export function opsFor(f: FdFacts, ctx: ObjectContext): FdOps {
  const ops = kinds.find((k) => k.matches(f, ctx));
  if (ops) return ops;
  throw new UnsupportedError(`process ${f.pid} fd ${f.fd} (${f.link}): ${ctx.inet ? otherSocketReason(ctx.inet) : unsupportedReason(f)}`, {
    pid: f.pid,
    object: `fd ${f.fd}`,
    phase: 'files',
  });
}

export function opsOf(kind: string): FdOps {
  const ops = byKind.get(kind);
  if (!ops) throw new UnsupportedError(`image holds an fd of kind "${kind}" that this ucr does not know`, { code: 'EIMAGE' });
  return ops;
}

function unsupportedReason(f: FdFacts): string {
  if (f.stat.isSocket()) return 'sockets other than AF_UNIX, TCP and UDP are not supported (use --skip sockets to restore them closed)';
  if (f.link.startsWith('anon_inode:')) return `${f.link.slice(11)} descriptors are not supported yet`;
  if (f.stat.isCharacterDevice()) return 'terminals and other character devices are not supported yet (only as inherited stdio)';
  if (f.stat.isBlockDevice()) return 'block devices are not supported';
  return 'this kind of file is not supported yet';
}

export type { CheckOptions, FdFacts, FdOps, ObjectContext, RestoreContext } from './types.js';
