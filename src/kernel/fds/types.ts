import type { FileImage, TaskImage, TtyImage } from '../../image/types.js';
import type { Helper } from '../helper.js';
import type { InetSockets } from '../inet-sockets.js';
import type { UnixSockets } from '../unix-sockets.js';
import type { FdInfo, FdStat } from '../proc.js';
import type { InetFacts } from './inet.js';
import type { UnixFacts } from './unix.js';

/** What a checkpoint learns about one fd before choosing its kind. */
export interface FdFacts {
  pid: number;
  fd: number;
  /** readlink of /proc/PID/fd/N */
  link: string;
  /** stat of the open file itself (through the /proc link) */
  stat: FdStat;
  info: FdInfo;
}

/** Where an object sits in the tree, for kinds whose nature depends on it. */
export interface ObjectContext {
  /** held by the tree's root at fd 0, 1 or 2 */
  rootStdio: number | undefined;
  /** a process outside the tree holds it too */
  heldOutside: boolean;
  /** every fd of the tree that refers to it */
  holders: { pid: number; fd: number }[];
  /** a unix socket: what sock_diag and the helper's peek report */
  unix?: UnixFacts;
  /** any other socket: what the helper's inetq reports (TCP and UDP in full) */
  inet?: InetFacts;
  /** checkpoint --skip sockets: sockets are recorded as closed */
  skipSockets?: boolean;
  /** a pid (as /proc shows it to ucr) of a task or thread of the tree: its pid in the image */
  treePid?: (pid: number) => number | undefined;
  /** a pid (as /proc shows it to ucr) of a zombie of the tree (exited, not reaped: it has no
   * fds, and is restored as a zombie): its pid in the image */
  zombiePid?: (pid: number) => number | undefined;
}

export interface CheckOptions {
  /** 'size' (default): a regular file open for writing must still have the size it had at
   * checkpoint, and no offset may lie beyond the end; 'off': not checked */
  fileValidation: 'size' | 'off';
  /** paths of tmpfs files the image holds (content objects): the restart creates them again
   * (or puts their contents back) before any file is opened */
  tmpfsFiles?: Set<string>;
}

export interface RestoreContext {
  /** The helper fd that carries the restarting process's stdio slot 0..2. */
  stdioFd(slot: number): number;
  /** restart --tcp-close: every TCP connection comes back closed */
  tcpClose?: boolean;
}

/** One object of the tree being captured: what the checkpoint learnt, and every fd of the tree
 * that refers to it (the first one is where it is read from). */
export interface CapturedObject {
  facts: FdFacts;
  holders: { pid: number; fd: number }[];
  ctx: ObjectContext;
}

/** What a kind's captured() step may use and add to (files.ts). */
export interface CaptureContext {
  helper: Helper;
  root: number;
  warn(message: string): void;
  /** the root's stdio that leads outside the tree (kind 'external') */
  external: { pid: number; fds: number[]; path: string; slot: number }[];
  /** The image's number of the pipe this end (of a pipe or a FIFO at fifoPath) belongs to;
   * its size and queued bytes are read once per pipe. */
  /** the pipe of this end (fifo: a FIFO at that path; ghost: removed from it since, its mode) */
  pipe(o: CapturedObject, fifoPath?: string, ghost?: { mode: number }): number;
  /** the tree's pty pairs, as their masters are found */
  ttys: TtyImage[];
  /** the tree's sockets, linked to each other once all are known */
  unix: UnixSockets;
  inet: InetSockets;
  /** a content object (by inode) is read through this path (objects.ts) */
  objectPath(ino: number, path: string): void;
}

/** Every object of the tree, once all are captured (linked()). */
export interface TreeFiles {
  files: FileImage[];
  ttys: TtyImage[];
  /** the objects a task of the tree holds at an fd (not those only in flight) at inode ino:
   * file id and its first holder */
  atInode(ino: number): { id: number; pid: number; fd: number }[];
  /** the first holder of a file */
  holderOf(id: number): { pid: number; fd: number };
  /** the file a task holds at fd, and whether it is opened late (FdOps.late) */
  fileAt(pid: number, fd: number): { file: FileImage; late?: string } | undefined;
}

/**
 * One kind of open file: checkpoint and restart side by side (CRIU's fdtype_ops). Registered
 * once in registry.ts; the image side of the kind (its record's fields, checks and inspect
 * text) is src/image/kinds/<kind>.ts.
 */
export interface FdOps<F extends FileImage = FileImage> {
  kind: F['kind'];
  matches(f: FdFacts, ctx: ObjectContext): boolean;
  /** The record (its kind's fields and path, flags, pos) from /proc and the helper's facts. */
  dump(f: FdFacts, ctx: ObjectContext): Omit<F, 'id' | 'kind'>;
  /** The object itself is not saved (external stdio, a skipped socket): no locks, no signal
   * owner, and being held outside the tree is no leak. */
  unsaved?: true;
  /** Opened by its task only in its finish step, after every fd is in place: what it is ("a file
   * of /proc"); locks, signal-driven I/O and epoll registrations on it are refused. */
  late?: string;
  /** The object is also held by a process outside the tree: a warning when the restart still
   * gets it right (it is reopened by its path); undefined: a leak (--allow-leaks). */
  sharedOutside?(o: CapturedObject, outside: { pid: number; fd: number; comm: string }): string | undefined;
  /** After dump, in tree order: what the kind reads with the helper or adds to the capture. */
  captured?(file: F, o: CapturedObject, cap: CaptureContext): void | Promise<void>;
  /** Once every object of the tree is captured: links to other objects, or a refusal. */
  linked?(file: F, tree: TreeFiles): void;
  /** Before any task is created on restart: throw if the object cannot be brought back. */
  check(file: F, opts: CheckOptions): void;
  /** A restart as root of an image owned by someone else: what the object needs beyond the
   * owner's rights (a capability), or undefined. */
  privilege?(file: F, host: { firstFreePort: number }): { who: string; what: string } | undefined;
  /** a socket: its owner (F_SETOWN) matters even without O_ASYNC (SIGURG) */
  urgent?: boolean;
  /** The helper plan line(s) that recreate the object (see native/helper/restore/plan.h). */
  plan(file: F, ctx: RestoreContext): string;
  /** Task plan lines for a task that holds the object at fd number `fd` (epoll registrations,
   * which only the task itself can make, with its own fd numbers). */
  taskPlan?(file: F, task: TaskImage, fd: number): string[];
}
