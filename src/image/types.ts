/** The typed content of an image's metadata records (CBOR values as they are stored); the FILES
 * and IPC records' types are in types-files.ts, re-exported here. */
import type { ImageFiles, ImageIpc } from './types-files.js';

export * from './types-files.js';

export interface ImageHeader {
  arch: 'x86_64';
  pageSize: number;
  kernel: { release: string; version: string };
  cpu: { xcr0: bigint | number; xstateSize: number; flags: string[] };
  createdAt: string;
  tool: string;
  owner: { uid: number; gid: number };
  root: number;
  /** checkpoint --compress: page and content records may be PAGES_LZ4 / OBJECT_LZ4 (format 1.2);
   * absent: none are (format 1.1 images never have it) */
  compress?: 'lz4';
}

export type TaskState = 'running' | 'stopped' | 'zombie';

export interface TreeEntry {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  comm: string;
  state: TaskState;
  threads: number;
  /** zombies: the wait status their parent will collect */
  exitStatus?: number;
  /** the pid the task sees, when it lives in a pid namespace below the checkpointer's */
  nsPid?: number;
  /** live tasks, when the tree has `cgroups`: its set (format 1.7, image/cgroups.ts) */
  cgroup?: number;
  /** its threads moved alone into other cgroups: [tid, set] (format 1.7) */
  threadCgroups?: [number, number][];
}

export interface ImageTree {
  tasks: TreeEntry[];
  /** format 1.7: the distinct cgroup sets of the live tasks, "KEY:PATH" lines (image/cgroups.ts);
   * written only when a task was in a cgroup other than the checkpointer's own */
  cgroups?: string[][];
}

/** How a mapping is recreated. */
export type VmaKind = 'anon' | 'file' | 'heap' | 'stack' | 'object' | 'sysvshm' | 'aio' | 'ring';

export interface VmaImage {
  start: number;
  end: number;
  /** PROT_* bits */
  prot: number;
  shared: boolean;
  kind: VmaKind;
  path?: string;
  pgoff: number;
  /** kind 'object': the content object mapped (ImageFiles.objects id) */
  obj?: number;
  /** Identity of a mapped file at checkpoint time, checked on restart (dev: st_dev, images
   * since inode and device were both compared; older ones have ino only). */
  file?: { size: number; mtimeMs: number; ino: number; dev?: number };
  /** MADV_BIT_* (native/helper/restore/plan.h, src/kernel/memory.ts MADV): madvise state, mlock,
   * MAP_NORESERVE and a shared mapping's may-write, as VmFlags showed them */
  madv: number;
  /** The image carries pages for this mapping. */
  fill: boolean;
  /** kind 'sysvshm': the segment (its id in the IPC record) and the shmat flags (SHM_RDONLY,
   * SHM_EXEC) that give the mapping's maximal access */
  shm?: { id: number; flags: number };
  /** kind 'ring': the inode of the packet socket whose rings these are (a rawsock file) */
  ring?: number;
  /** kind 'aio' (format 1.7; left out when both are 0): the ring's head and tail (each below
   * its nr, (end - start - 32) / 32), and the completed events not yet reaped, from head to
   * tail (32 bytes each: data, obj, res, res2) */
  aio?: { head: number; tail: number; events: Uint8Array };
}

/** A special kernel mapping ([vvar], [vvar_vclock], [vdso], [vsyscall]) kept for its position. */
export interface SpecialVma {
  name: string;
  start: number;
  end: number;
}

export interface FdImage {
  fd: number;
  file: number;
  cloexec: boolean;
}

export interface SigactionImage {
  sig: number;
  handler: number;
  flags: bigint | number;
  restorer: number;
  mask: bigint | number;
}

export interface PosixTimer {
  id: number;
  clock: number;
  notify: string;
  signo: number;
  sigval: bigint | number;
  tid: number;
  interval: [number, number];
  value: [number, number];
  /** timer_getoverrun: the overruns of its last delivered signal, when not 0 */
  overrun?: number;
}

/** Capability sets as /proc/PID/status shows them (hex masks). */
export interface CapSets {
  inheritable: string;
  permitted: string;
  effective: string;
  bounding: string;
  ambient: string;
}

/** A thread's own signal state: alternate stack [sp, flags, size] and its pending signals
 * (whole 128-byte siginfos, in queue order). */
export interface ThreadSignals {
  altstack: [number, number, number];
  pending: Uint8Array;
  /** the thread's robust futex list (set_robust_list): [head address, length]; absent: none */
  robust?: [number, number];
}

/** A thread other than the main one (its memory is the task's). */
export interface ThreadImage {
  tid: number;
  comm: string;
  regs: Uint8Array;
  xstate: Uint8Array;
  sigmask: bigint | number;
  rseq: { ptr: number; len: number; sig: number } | null;
  tidAddress: number;
  signals: ThreadSignals;
}

export interface MmImage {
  startCode: number;
  endCode: number;
  startData: number;
  endData: number;
  startBrk: number;
  brk: number;
  startStack: number;
  argStart: number;
  argEnd: number;
  envStart: number;
  envEnd: number;
}

/** One thread's scheduling (sched_getattr) and personality. */
export interface ThreadSched {
  tid: number;
  /** SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6 */
  policy: number;
  /** SCHED_FLAG_RESET_ON_FORK 1, RECLAIM 2, DL_OVERRUN 4 */
  flags: number;
  nice: number;
  /** the real-time priority (1..99 for FIFO/RR, else 0) */
  priority: number;
  /** SCHED_DEADLINE: [runtime, deadline, period] in ns */
  dl?: [number, number, number];
  /** utilization clamps [min, max] when set (0..1024) */
  util?: [number, number];
  /** SCHED_OTHER and SCHED_BATCH: the thread's own time slice in ns (sched_setattr's
   * sched_runtime, Linux 6.12 on), absent for the default one (format 1.9) */
  slice?: number;
  personality: number;
  /** CPU affinity (sched_setaffinity), ascending CPU numbers; absent when the thread may run on
   * every CPU of the machine it was checkpointed on */
  cpus?: number[];
}

/** Attributes of a process and its threads beyond the rest of the task image (images written
 * since issue 17; absent in older ones: then none of these is restored). */
export interface TaskAttrs {
  /** every thread, the main one (tid = pid) included */
  sched: ThreadSched[];
  /** the process (its pid in the image, its parent or an ancestor sharing with it) whose fd
   * table this one shares (clone with CLONE_FILES), and whose fs info (cwd, root, umask:
   * CLONE_FS); absent when it has its own */
  files?: number;
  fs?: number;
  oomScoreAdj: number;
  /** MEMBARRIER_CMD_REGISTER_* bits (membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS)) */
  membarrier: number;
  /** mlockall flags that outlive the call: MCL_FUTURE 2, MCL_ONFAULT 4 */
  mlockall: number;
  /** prctl(PR_SET_THP_DISABLE): 1, or 3 with PR_THP_DISABLE_EXCEPT_ADVISED; absent: off */
  thp?: number;
  /** a stopped process: the signal that stopped it when not SIGSTOP (SIGTSTP 20, SIGTTIN 21,
   * SIGTTOU 22) */
  stopSignal?: number;
  /** /proc/PID/loginuid (4294967295: unset) */
  loginuid: number;
  /** the root directory (chroot) as the checkpoint saw it, when not its own root */
  root?: string;
}

/** A seccomp filter: saved once for the whole image, in the first task record (image order)
 * holding it; ids count 0, 1, 2... in that order (src/kernel/seccomp.ts). */
export interface SeccompFilter {
  id: number;
  /** the filter it was installed on (-1: none): the kernel runs the newest first */
  prev: number;
  /** SECCOMP_FILTER_FLAG_LOG (2), as PTRACE_SECCOMP_GET_METADATA reports it */
  flags: number;
  /** the classic BPF program: 8 bytes per instruction, 1..4096 instructions */
  prog: Uint8Array;
}

/** A task's seccomp state (images written since issue 17; absent: no thread under seccomp). */
export interface SeccompImage {
  /** the filters this task is the first (in image order) to hold */
  filters: SeccompFilter[];
  /** every thread not in mode 0: [tid, mode (1 strict, 2 filter), its newest filter (-1 strict)] */
  threads: [number, number, number][];
}

export interface TaskImage {
  pid: number;
  comm: string;
  exe: string;
  cwd: string;
  /** the cwd was removed: the content object (kind unlinked-dir) that is it, recreated and
   * removed again at restart; cwd is then the path it had */
  cwdObj?: number;
  umask: number;
  /** uid and gid: real, effective, saved, fs; supplementary groups; PR_GET_DUMPABLE */
  creds: { uid: number[]; gid: number[]; groups: number[]; dumpable: number; caps?: CapSets };
  /** struct user_regs_struct, 216 bytes (NT_PRSTATUS) */
  regs: Uint8Array;
  /** NT_X86_XSTATE in standard (non-compacted) format */
  xstate: Uint8Array;
  sigmask: bigint | number;
  rseq: { ptr: number; len: number; sig: number } | null;
  pdeathsig: number;
  sigactions: SigactionImage[];
  /** [cur, max] for each of the 16 resources */
  rlimits: [bigint | number, bigint | number][];
  mm: MmImage;
  auxv: Uint8Array;
  /** clear_child_tid: where libc keeps the thread id (updated when the pid changes) */
  tidAddress: number;
  /** the other threads, recreated at their tids */
  threads: ThreadImage[];
  /** the main thread had exited (pthread_exit in main) while the others ran: it exits again
   * once the threads are back, so it stays the zombie leader it was */
  leaderExited: boolean;
  /** the main thread's signal state, plus the signals pending for the whole process */
  signals: ThreadSignals & { shared: Uint8Array };
  /** ITIMER_REAL, _VIRTUAL, _PROF: [interval s, interval us, value s, value us] */
  itimers: number[][];
  subreaper: boolean;
  /** the controlling terminal when it is a pty (/dev/pts/N): N */
  ctty?: number;
  /** a session leader's: the foreground process group of its controlling terminal */
  tpgid?: number;
  personality: number;
  noNewPrivs: boolean;
  attrs?: TaskAttrs;
  seccomp?: SeccompImage;
  /** POSIX timers: notify 'signal' | 'thread' (to tid) | 'none'; times [s, ns] */
  posixTimers: PosixTimer[];
  specials: SpecialVma[];
  vmas: VmaImage[];
  /** sorted by fd; files are the image's FILES record */
  fds: FdImage[];
  /** [address, page count] in stream order */
  pageRuns: [number, number][];
  /** [address, page count]: pages shared with the parent since its fork (copy-on-write), not
   * saved again (src/kernel/cow.ts; format 1.3) */
  inherited?: [number, number][];
  /** [address, page count]: guard regions (MADV_GUARD_INSTALL: touching them is SIGSEGV) */
  guards?: [number, number][];
}

export interface Trailer {
  records: number;
  pageBytes: number;
  digest: number;
}

export interface ImageMetadata {
  major: number;
  minor: number;
  header: ImageHeader;
  tree: ImageTree;
  files: ImageFiles;
  /** System V objects (images of format 1.1 and later; empty before) */
  ipc: ImageIpc;
  /** one per live (non-zombie) tree entry, in tree order */
  tasks: TaskImage[];
  /** digest chained over the metadata records (the helper continues it over pages) */
  digest: number;
  records: number;
}

/** Register slots in struct user_regs_struct (x86_64), by index of its u64 fields. */
export const REG = { rax: 10, orig_rax: 15, rip: 16, eflags: 18, rsp: 19, fs_base: 21 } as const;

export function regValue(regs: Uint8Array, slot: number): bigint {
  return Buffer.from(regs.buffer, regs.byteOffset, regs.byteLength).readBigUInt64LE(slot * 8);
}
