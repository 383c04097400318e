import type { FileImage, TaskImage } from '../../image/types.js';
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
}

/**
 * One kind of open file: dump and restore side by side. Registered once in registry.ts;
 * the native side only knows three generic ways to produce one (open a path, inherit one of
 * the helper's fds, one end of a pipe it created).
 */
export interface FdOps {
  kind: string;
  matches(f: FdFacts, ctx: ObjectContext): boolean;
  dump(f: FdFacts, ctx: ObjectContext): Omit<FileImage, 'id' | 'kind'>;
  /** Before any task is created on restart: throw if the object cannot be brought back. */
  check(file: FileImage, opts: CheckOptions): void;
  /** The helper plan line that recreates the object (see native/helper/restore/plan.h). */
  plan(file: FileImage, ctx: RestoreContext): string;
  /** Task plan lines for a task that holds the object at fd number `fd` (epoll registrations,
   * which only the task itself can make, with its own fd numbers). */
  taskPlan?(file: FileImage, task: TaskImage, fd: number): string[];
}
