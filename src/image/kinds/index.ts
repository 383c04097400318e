/**
 * The one registry of file kinds as the image holds them. FileImage is the union of their
 * records, tagged by `kind`; `formats` maps every kind to its format, and the compiler checks
 * that none is missing. The order is the order of inspect's per-kind lines and warnings.
 * Adding a kind: its module beside this one, one line in FileImage and one in `formats`
 * (and its module in src/kernel/fds/, registered in registry.ts there).
 */
import type { FileFormat } from './kind.js';
import { regularFormat, type RegularFile } from './regular.js';
import { deviceFormat, type DeviceFile } from './device.js';
import { externalFormat, type ExternalFile } from './external.js';
import { closedFormat, type ClosedFile } from './closed.js';
import { pipeFormat, type PipeFile } from './pipe.js';
import { fifoFormat, type FifoFile } from './fifo.js';
import { ptyFormat, type PtyFile } from './pty.js';
import { devTtyFormat, type DevTtyFile } from './devtty.js';
import { eventFdFormat, type EventFdFile } from './eventfd.js';
import { signalFdFormat, type SignalFdFile } from './signalfd.js';
import { timerFdFormat, type TimerFdFile } from './timerfd.js';
import { epollFormat, type EpollFile } from './epoll.js';
import { inotifyFormat, type InotifyFile } from './inotify.js';
import { procFormat, type ProcFile } from './proc.js';
import { pidFdFormat, type PidFdFile } from './pidfd.js';
import { memfdFormat, type MemfdFile } from './memfd.js';
import { unlinkedFormat, type UnlinkedFile } from './unlinked.js';
import { unixFormat, type UnixFile } from './unix.js';
import { inetFormat, type InetFile } from './inet.js';
import { fanotifyFormat, type FanotifyFile } from './fanotify.js';
import { rawSockFormat, type RawSockFile } from './rawsock.js';

export type FileImage =
  | RegularFile
  | DeviceFile
  | ExternalFile
  | ClosedFile
  | PipeFile
  | FifoFile
  | PtyFile
  | DevTtyFile
  | EventFdFile
  | SignalFdFile
  | TimerFdFile
  | EpollFile
  | InotifyFile
  | ProcFile
  | PidFdFile
  | MemfdFile
  | UnlinkedFile
  | UnixFile
  | InetFile
  | FanotifyFile
  | RawSockFile;

export type FileKind = FileImage['kind'];
/** The record of one kind: FileOf<'pipe'> */
export type FileOf<K extends FileKind> = Extract<FileImage, { kind: K }>;

const formats: { [K in FileKind]: FileFormat<FileOf<K>> } = {
  regular: regularFormat,
  device: deviceFormat,
  external: externalFormat,
  closed: closedFormat,
  pipe: pipeFormat,
  fifo: fifoFormat,
  pty: ptyFormat,
  devtty: devTtyFormat,
  eventfd: eventFdFormat,
  signalfd: signalFdFormat,
  timerfd: timerFdFormat,
  epoll: epollFormat,
  inotify: inotifyFormat,
  proc: procFormat,
  pidfd: pidFdFormat,
  memfd: memfdFormat,
  unlinked: unlinkedFormat,
  unix: unixFormat,
  inet: inetFormat,
  fanotify: fanotifyFormat,
  rawsock: rawSockFormat,
};

/** Every kind's format, in registry order. */
export const fileFormats: readonly FileFormat[] = Object.values(formats) as FileFormat[];

/** The format of a known kind (undefined: not a kind of this ucr). */
export function formatOf<K extends FileKind>(kind: K): FileFormat<FileOf<K>>;
export function formatOf(kind: string): FileFormat | undefined;
export function formatOf(kind: string): FileFormat | undefined {
  return Object.hasOwn(formats, kind) ? (formats[kind as FileKind] as FileFormat) : undefined;
}

/** Every key some kind owns (a key of another kind on a file is refused). */
export const KIND_FIELDS: ReadonlySet<string> = new Set(fileFormats.flatMap((f) => f.fields));
