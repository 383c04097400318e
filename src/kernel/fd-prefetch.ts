/**
 * The files capture's fd tables (proc.ts: fdTable) scanned ahead on libuv's worker threads
 * (the addon's fdScanBatch): the checkpoint starts it once the tree is frozen, so the kernel's
 * fdinfo reads (~4 µs per fd: 1.5 s for 1,000 tasks x 400 fds) run while the tasks are captured
 * and while the tables already scanned are taken. Chunks of tasks, one at a time, each scanned
 * with kcmp against its parent's fd of the same number (F_SAME: the fd was inherited and is
 * still the same open file), and let go once taken: memory stays bounded in the tree's size.
 * The first chunks are small (1, 2, 4, 8 tasks, then `chunk`): the files capture takes the
 * root's table (its objects: the most work per fd) while the rest is scanned. One scan at a
 * time while the tasks are captured (the main thread and the helper have the CPUs); two once
 * the files capture waits for a table (the main thread is idle then): a tree of 10 x 400 fds
 * scans its last ~3,000 fds in half the time.
 *
 * An fd kcmp finds the same open file as its parent's is not read further (its fdinfo: ~10 us
 * per fd on some machines, most of a scan): the open file's flags, mount and inode are the
 * parent's, and its one bit of its own, close-on-exec, comes from the task's state (the helper
 * asks the task, F_GETFD: closeOnExec). Its lock slot stays F_UNREAD: the files capture reads
 * its fdinfo only when /proc/locks shows a lock on its inode (files.ts), read here on a worker
 * thread as soon as a scan leaves an fdinfo unread, and only then: a read of /proc/locks waits
 * for an RCU grace period (~10 ms), and every file lock taken on the machine meanwhile waits
 * too (the kernel stops lock changes while it lists them).
 *
 * The other processes' fds (scanOthersAhead: the files capture looks for holders of the tree's
 * open files outside it) are scanned here too, from when a scanned table shows an open file that
 * is not a character device (what the files capture looks for outside holders of) and no table
 * scan runs: while the tasks are captured, not after (~3 ms for 70 processes here, which the
 * files capture waited for).
 */
import { native } from '../native/addon.js';
import { hasNonDevice } from './fd-facts.js';
import { F_FD, F_FLAGS, fdTable, FD_STRIDE, type FdTable } from './proc.js';

type Others = Awaited<ReturnType<typeof scanOthersAhead>>;

/** With the fdinfo: 1 when kcmp found the fd the same open file as its parent's fd of that
 * number (the ref given to the prefetch), else 0. */
export const F_SAME = 4;
/** the flags and lock slots of an fd whose fdinfo was not read (F_SAME) */
export const F_UNREAD = -1;
/** A task with more fds than this has its inherited fds' fdinfo left unread, and one whose fd
 * table has more slots than this (FDSize: at least its fds) the close-on-exec bits asked of it
 * (a stop of the task, ~0.1 ms: the cost of ~10 fdinfo reads; dump_state.c fd_flags). */
export const SKIP_FDINFO_MIN = 64;
const O_CLOEXEC = 0o2000000;

type Entry = Awaited<ReturnType<ReturnType<typeof native>['fdScanBatch']>>[number];

export class FdPrefetch {
  private readonly chunks: { pids: number[]; refs: number[]; result: Promise<Entry[]>; settle: (r: Promise<Entry[]>) => void; left: number }[] = [];
  private readonly at = new Map<number, [chunk: number, index: number]>();
  private readonly refOf = new Map<number, number>();
  /** chunks started, scans running, the chunk being taken */
  private started = 0;
  private running = 0;
  private taking = 0;
  /** scans at once: 1 while the tasks are captured, 2 once a table is waited for */
  private parallel = 1;
  /** each task's close-on-exec bits (closeOnExec) */
  private readonly cloexec = new Map<number, number[]>();
  /** the inodes /proc/locks names (lockedInodes), read once a scan leaves an fdinfo unread */
  private lockRead?: Promise<Set<number> | null>;
  /** the other processes' fds (others()): wanted once a table has a file that is not a device */
  private othersScan?: Promise<Others>;
  private othersWanted = false;
  /** the pids the tables are of, and the processes to leave out with them (ucr's own) */
  private readonly skip: number[];

  /** pids as /proc shows them, in the order the tables are taken; ref: a pid whose fds to kcmp
   * each fd against (the parent) or 0. One chunk scanned at a time until a table is asked for
   * (a second thread would take the CPU from the capture it overlaps, on a machine of 2), then
   * two; at most `ahead` chunks ahead of the one being taken. ignore: processes that are not
   * outside holders either (others()). */
  constructor(
    tasks: { pid: number; ref: number }[],
    ignore: Iterable<number> = [],
    chunk = 16,
    private readonly ahead = 8,
  ) {
    this.skip = [...tasks.map((t) => t.pid), ...ignore];
    // chunk c holds tasks [first(c), first(c + 1)): sizes 1, 2, 4, 8 (up to chunk), then chunk
    let c = 0;
    let end = 0;
    tasks.forEach(({ pid, ref }, i) => {
      if (i === end) {
        c = i === 0 ? 0 : c + 1;
        end = i + Math.min(chunk, 2 ** Math.min(c, 20)); // (1 << 31 is negative: one chunk for the rest)
      }
      if (!this.chunks[c]) {
        let settle: (r: Promise<Entry[]>) => void = () => {};
        const result = new Promise<Entry[]>((resolve) => (settle = resolve));
        result.catch(() => {}); // taken by table(); a checkpoint that fails first leaves it
        this.chunks[c] = { pids: [], refs: [], result, settle, left: 0 };
      }
      this.at.set(pid, [c, this.chunks[c]!.pids.length]);
      this.chunks[c]!.pids.push(pid);
      this.chunks[c]!.refs.push(ref);
      this.chunks[c]!.left++;
      if (ref > 0) this.refOf.set(pid, ref);
    });
    this.pump();
  }

  private pump(): void {
    while (this.running < this.parallel && this.started < this.chunks.length && this.started <= this.taking + this.ahead) {
      const k = this.chunks[this.started++]!;
      this.running++;
      const scan = native().fdScanBatch(k.pids, k.refs, SKIP_FDINFO_MIN);
      k.settle(scan);
      const done = () => {
        this.running--;
        this.pump();
      };
      scan.then((all) => {
        if (!this.lockRead && all.some((e) => 'nums' in e && hasUnread(e.nums))) void this.locked();
        if (!this.othersWanted && all.some((e) => 'facts' in e && e.facts !== undefined && hasNonDevice(e.facts))) this.othersWanted = true;
        done();
      }, done);
    }
    // one scan on the worker threads at a time while the tasks are captured
    if (this.othersWanted && this.running === 0) void this.others();
  }

  /** The other processes' fds (every process but the tables' and ignore's: scanOthersAhead),
   * scanned once: ahead when a table showed a file that is not a device, else now. */
  others(): Promise<Others> {
    return (this.othersScan ??= scanOthersAhead(this.skip));
  }

  /** The close-on-exec bits of pid's fds, as runs (first fd, count, bit; ascending), from its
   * state (dump-task.ts StateFacts.fdflags); undefined: not known. */
  closeOnExec(pid: number, runs: number[] | undefined): void {
    if (runs) this.cloexec.set(pid, runs);
  }

  /** The inode numbers /proc/locks names (null: it could not be read), read once. */
  locked(): Promise<Set<number> | null> {
    return (this.lockRead ??= lockedInodes());
  }

  /** the pid whose fds F_SAME compares with (its parent), or undefined */
  ref(pid: number): number | undefined {
    return this.refOf.get(pid);
  }

  /** The table of pid (scanned ahead, else now), as fdTable(pid) gives it; throws as it does. */
  async table(pid: number): Promise<FdTable> {
    const where = this.at.get(pid);
    if (!where) return fdTable(pid);
    const [c, i] = where;
    this.at.delete(pid);
    this.taking = Math.max(this.taking, c);
    this.parallel = 2;
    this.pump();
    const k = this.chunks[c]!;
    const all = await k.result; // settled once its scan has run
    const e = all[i]!;
    // let go once taken
    (all as (Entry | undefined)[])[i] = undefined;
    if (--k.left === 0) k.result = Promise.resolve([]);
    if ('errno' in e) throw Object.assign(new Error(e.message), { errno: e.errno, code: e.code, syscall: e.syscall }); // as fdScan throws
    const runs = this.cloexec.get(pid);
    this.cloexec.delete(pid);
    // the inherited fds' close-on-exec bits; a table the state does not cover is read whole
    if (!withCloseOnExec(e.nums, runs)) return fdTable(pid);
    return { pid, nums: e.nums, info: e.info, count: e.nums.length / FD_STRIDE, facts: e.facts, links: e.links };
  }
}

function hasUnread(nums: Float64Array): boolean {
  for (let b = F_FLAGS; b < nums.length; b += FD_STRIDE) if (nums[b] === F_UNREAD) return true;
  return false;
}

/** Sets the flags slot of each unread fd of nums to its close-on-exec bit (O_CLOEXEC or 0) from
 * runs; false when runs (or none) do not have one of them. */
export function withCloseOnExec(nums: Float64Array, runs: number[] | undefined): boolean {
  let r = 0; // the run at or after the fd (both ascending)
  for (let b = 0; b < nums.length; b += FD_STRIDE) {
    if (nums[b + F_FLAGS] !== F_UNREAD) continue;
    if (!runs) return false;
    const fd = nums[b + F_FD]!;
    while (r < runs.length && runs[r]! + runs[r + 1]! <= fd) r += 3;
    if (r >= runs.length || runs[r]! > fd) return false;
    nums[b + F_FLAGS] = runs[r + 2] ? O_CLOEXEC : 0;
  }
  return true;
}

/** The fds of every process but those of skip (proc.ts: filesOfOthers, whose entries these
 * are), scanned on a worker thread from when the files capture knows it will look for holders
 * outside the tree (its first object that is not a device), while it takes the tree's tables;
 * undefined if the scan failed (the caller scans as before). */
export function scanOthersAhead(skip: number[]): Promise<Iterable<{ pid: number; nums: Float64Array }> | undefined> {
  return native()
    .fdScanOthers(skip)
    .then(
      ({ pids, starts, nums }) => ({
        *[Symbol.iterator]() {
          for (let k = 0; k < pids.length; k++)
            yield { pid: pids[k]!, nums: nums.subarray(starts[k]! * FD_STRIDE, k + 1 < starts.length ? starts[k + 1]! * FD_STRIDE : nums.length) };
        },
      }),
      () => undefined,
    );
}

/** The inode numbers /proc/locks has a lock (or a waiter) on, as fdinfo's "ino:" gives them
 * (the inode's i_ino); null when it cannot be read. */
export function lockedInodes(): Promise<Set<number> | null> {
  return native()
    .lockedInodes()
    .then(
      (inos) => inos && new Set(inos),
      () => null,
    );
}
