/**
 * The one registry of fd kinds for checkpoint and restart. Order matters: the first kind whose
 * matches() accepts an object takes it. The compiler checks that every kind of the image
 * (src/image/kinds/index.ts) is here. Adding a kind: its module beside this one and a line here,
 * its image module in src/image/kinds/ (docs/kinds.md has the checklist).
 */
import { UnsupportedError } from '../../errors.js';
import { statelessDevice } from './device.js';
import { epollFd } from './epoll.js';
import { eventFd } from './eventfd.js';
import { externalStdio } from './external.js';
import { fifoEnd } from './fifo.js';
import { inotifyFd } from './inotify.js';
import { fanotifyFd } from './fanotify.js';
import { memFd } from './memfd.js';
import { pipeEnd } from './pipe.js';
import { procFile } from './proc.js';
import { pidFd } from './pidfd.js';
import { ptyEnd } from './pty.js';
import { devTty } from './devtty.js';
import { regularFile } from './regular.js';
import { signalFd } from './signalfd.js';
import { timerFd } from './timerfd.js';
import { skippedSocket } from './closed.js';
import { unlinkedFile } from './unlinked.js';
import { inetSocket, otherSocketReason } from './inet.js';
import { unixSocket } from './unix.js';
import { rawSocket } from './rawsock.js';
import type { FileImage, FileKind, FileOf } from '../../image/types.js';
import type { FdFacts, FdOps, ObjectContext } from './types.js';

const kinds = [
  externalStdio,
  skippedSocket,
  procFile,
  pidFd,
  regularFile,
  statelessDevice,
  pipeEnd,
  fifoEnd,
  ptyEnd,
  devTty,
  eventFd,
  signalFd,
  timerFd,
  epollFd,
  inotifyFd,
  fanotifyFd,
  memFd,
  unlinkedFile,
  unixSocket,
  inetSocket,
  rawSocket,
] as const satisfies readonly { [K in FileKind]: FdOps<FileOf<K>> }[FileKind][];
/** a kind of the image without its ops here fails to compile, naming the kind */
type Missing = Exclude<FileKind, (typeof kinds)[number]['kind']>;
const complete: [Missing] extends [never] ? true : Missing = true;
void complete;
const byKind = new Map<string, FdOps>(kinds.map((k) => [k.kind, k as FdOps]));

export function opsFor(f: FdFacts, ctx: ObjectContext): FdOps {
  const ops = kinds.find((k) => k.matches(f, ctx)) as FdOps | undefined;
  if (ops) return ops;
  throw new UnsupportedError(`process ${f.pid} fd ${f.fd} (${f.link}): ${ctx.inet ? otherSocketReason(ctx.inet) : unsupportedReason(f)}`, {
    pid: f.pid,
    object: `fd ${f.fd}`,
    phase: 'files',
  });
}

/** The ops of a file's kind: opsOf(file.kind).plan(file) */
export function opsOf(kind: FileImage['kind']): FdOps {
  const ops = byKind.get(kind);
  if (!ops) throw new UnsupportedError(`image holds an fd of kind "${kind}" that this ucr does not know`, { code: 'EIMAGE' });
  return ops;
}

function unsupportedReason(f: FdFacts): string {
  if (f.stat.isSocket()) return 'sockets other than AF_UNIX, TCP, UDP, raw IP, ping, packet and netlink are not supported (use --skip sockets to restore them closed)';
  if (f.link.startsWith('anon_inode:')) return `${f.link.slice(11)} descriptors are not supported yet`;
  if (f.stat.isCharacterDevice()) return 'terminals and other character devices are not supported yet (only as inherited stdio)';
  if (f.stat.isBlockDevice()) return 'block devices are not supported';
  return 'this kind of file is not supported yet';
}

export type { CaptureContext, CapturedObject, CheckOptions, FdFacts, FdOps, ObjectContext, RestoreContext, TreeFiles } from './types.js';
