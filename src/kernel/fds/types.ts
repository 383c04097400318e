import type { Stats } from 'node:fs';
import type { FdImage, FileImage } from '../../image/types.js';
import type { FdInfo } from '../proc.js';

/** What a checkpoint learns about one fd before choosing its kind. */
export interface FdFacts {
  pid: number;
  fd: number;
  /** readlink of /proc/PID/fd/N */
  link: string;
  /** stat of the open file itself (through the /proc link) */
  stat: Stats;
  info: FdInfo;
}

export interface RestoreContext {
  /** The helper fd that carries the restarting process's stdio slot 0..2. */
  stdioFd(slot: number): number;
}

/**
 * One kind of open file: dump and restore side by side. Registered once in registry.ts;
 * the native side only knows two generic ways to produce an fd (open a path, inherit one).
 */
export interface FdOps {
  kind: string;
  matches(f: FdFacts): boolean;
  dump(f: FdFacts): Omit<FileImage, 'id' | 'kind'>;
  /** Before any task is created on restart: throw if the object cannot be brought back. */
  check(file: FileImage): void;
  /** The helper plan line that recreates fd (see native/helper/plan.h). */
  plan(file: FileImage, fd: FdImage, ctx: RestoreContext): string;
}
