/**
 * The compact side of the files capture (files.ts): a tree of 1,000 tasks with 400 inherited fds
 * each has 400,000 fds but ~400 open files. An fd costs numbers here (its holder entry, its
 * task's reference), never an object; objects (FdFacts, holder lists) are made once per open
 * file, and holder lists only when a kind asks for them.
 */
import type { FdFacts } from './fds/registry.js';

export interface Holder {
  pid: number;
  fd: number;
  /** the "lock:" lines of its fdinfo */
  locks?: string[];
}

/** Every fd of the tree that refers to one open file, first one first (where it is read from),
 * as two growing Int32Arrays; the lock lines of the few holders that have any aside. */
export class Holders {
  private pids = new Int32Array(2);
  private fds = new Int32Array(2);
  private locks: Map<number, string[]> | undefined;
  length = 0;

  push(pid: number, fd: number, locks?: string[]): void {
    if (this.length === this.pids.length) {
      const grow = (a: Int32Array) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.pids = grow(this.pids);
      this.fds = grow(this.fds);
    }
    if (locks?.length) (this.locks ??= new Map()).set(this.length, locks);
    this.pids[this.length] = pid;
    this.fds[this.length++] = fd;
  }

  get hasLocks(): boolean {
    return this.locks !== undefined;
  }

  pid(i: number): number {
    return this.pids[i]!;
  }

  fd(i: number): number {
    return this.fds[i]!;
  }

  /** the first holder at one of these fds of pid, or -1 */
  find(pid: number, maxFd: number): number {
    for (let i = 0; i < this.length; i++) if (this.pids[i] === pid && this.fds[i]! <= maxFd) return i;
    return -1;
  }

  /** As objects (what the kinds' ops take). Every holder has its lock lines ([] for none). */
  list(): Holder[] {
    const out: Holder[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = { pid: this.pids[i]!, fd: this.fds[i]!, locks: this.locks?.get(i) ?? [] };
    return out;
  }
}

export interface TreeObject {
  /** its index in ObjectIndex.objects */
  n: number;
  /** its mount and inode as fdinfo shows them (proc.ts: F_MNT, F_FINO) */
  mnt: number;
  ino: number;
  facts: FdFacts;
  /** the open file's flags (without O_CLOEXEC, the fd's) */
  flags: number;
  holders: Holders;
  outside?: Holder & { comm: string };
  /** held by no task: a descriptor in flight in this socket's queue (its holder: the helper) */
  via?: string;
}

/** The open files found so far by inode (then mount and flags, as fdinfo shows them; kcmp
 * decides). */
export class ObjectIndex {
  readonly objects: TreeObject[] = [];
  private byIno = new Map<number, TreeObject | TreeObject[]>();

  /** the object of that mount, inode and flags that kcmp says is the same open file */
  find(mnt: number, ino: number, flags: number, same: (o: TreeObject) => boolean): TreeObject | undefined {
    const x = this.byIno.get(ino);
    if (x === undefined) return undefined;
    if (!Array.isArray(x)) return x.mnt === mnt && x.flags === flags && same(x) ? x : undefined;
    return x.find((o) => o.mnt === mnt && o.flags === flags && same(o));
  }

  add(o: TreeObject): void {
    this.objects.push(o);
    const ino = o.ino;
    const x = this.byIno.get(ino);
    if (x === undefined) this.byIno.set(ino, o);
    else if (Array.isArray(x)) x.push(o);
    else this.byIno.set(ino, [x, o]);
  }

}

/** The fds of one task, ascending: its fd numbers and, for each, its object's index in
 * ObjectIndex.objects times 2, plus 1 with close-on-exec. */
export interface TaskRefs {
  fds: Int32Array;
  refs: Int32Array;
  count: number;
}

/** The index of fd in a task's refs (ascending), or -1. */
export function refAt(t: TaskRefs, fd: number): number {
  let lo = 0;
  let hi = t.count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = t.fds[mid]!;
    if (v === fd) return mid;
    if (v < fd) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
