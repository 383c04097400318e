/**
 * The native surface, typed once here. The addon (build/Release/ucr_native.node) is small and
 * synchronous; blocking work runs in the ucr-helper executable beside it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UcrError } from '../errors.js';

export interface NativeAddon {
  /** CRC-32C of buf, continuing seed (0 to start). */
  crc32c(buf: Uint8Array, seed?: number): number;
  /** kcmp(KCMP_FILE): 0 when both fds are one open file. Throws with code/errno/syscall. */
  kcmpFiles(pid1: number, fd1: number, pid2: number, fd2: number): number;
  /** kcmp(type) of two tasks (KCMP_FILES 2, KCMP_FS 3...): 0 when they share it, else 1/2 (an
   * order). Throws like kcmpFiles. */
  kcmpTasks(pid1: number, pid2: number, type: number): number;
  /** kcmp(KCMP_EPOLL_TFD): 0 when fd1 of pid1 is the file registered in pid2's epoll efd at
   * target fd number tfd (toff-th registration with that number). Throws like kcmpFiles. */
  kcmpEpollTarget(pid1: number, fd1: number, pid2: number, efd: number, tfd: number, toff: number): number;
  /** What the symbolic link that fd of pid holds (O_PATH|O_NOFOLLOW) points to, also once its
   * name is removed (readlinkat(fd, "")). Throws with code/errno/syscall. */
  fdSymlinkTarget(pid: number, fd: number): string;
  /** XCR0: the xsave feature mask the kernel enabled on this CPU. */
  xcr0(): bigint;
  /** The path of the file that a file handle (as /proc fdinfo shows it) names on the mount at
   * mountDir (open_by_handle_at, needs CAP_DAC_READ_SEARCH). Throws with code/errno/syscall. */
  pathOfHandle(mountDir: string, type: number, handle: Uint8Array): string;
  /** sigqueue(3): sends sig with si_code SI_QUEUE and si_value.sival_int = value. */
  sigqueue(pid: number, sig: number, value: number): void;
  /** Every fd of a process, ascending: 11 numbers per fd in nums (fd, dev, ino, mode, nlink,
   * rdev, size: the stat of the open file; then, unless withInfo is false, its fdinfo's flags,
   * where its fdinfo text starts and ends in info, 1 when that has a "lock:" line) and the
   * fdinfo texts back to back (latin1) in info. fds closed meanwhile are left out. Throws with
   * code/errno/syscall when the process is gone (proc.ts: fdTable). into: nums is a view of it
   * when the numbers fit (proc.ts: filesOfOthers, one buffer for every process). */
  fdScan(pid: number, withInfo?: boolean, into?: Float64Array): { nums: Float64Array; info: string };
  /** fdScan(pid) of each pid (with the fdinfo) on a worker thread; slot 4 of an fd is 1 when
   * kcmp finds it the same open file as that fd number of refs[i] (0: none). facts: for each
   * fd that is not (the files capture makes an object of it), FD_FACTS numbers: the stat of
   * its open file (dev, ino, mode, nlink, rdev, size, as fs.statSync of /proc/PID/fd/FD gives
   * them) and where its link's bytes lie in links (latin1); dev NaN when not taken (the same
   * as its parent's, or gone meanwhile, or a link longer than PATH_MAX); they end at the last
   * fd that is not its parent's, and a table of such fds only has neither facts nor links. A
   * process that is gone gives its error's fields instead. skipMin (default 0: never): in a
   * table of more fds than that, an fd found the same as its parent's has its fdinfo not
   * read (its flags and lock slots -1, its mount and inode 0, no text: fd-prefetch.ts). */
  fdScanBatch(
    pids: number[],
    refs: number[],
    skipMin?: number,
  ): Promise<({ nums: Float64Array; info: string; facts?: Float64Array; links?: string } | { errno: number; code: string; syscall: string; message: string })[]>;
  /** fdScan(pid, false) of every process in /proc but those of skip, on a worker thread: the
   * numbers of pids[k] are nums[starts[k] * 11, starts[k + 1] * 11) (to the end for the last).
   * Processes gone meanwhile are left out. */
  fdScanOthers(skip: number[]): Promise<{ pids: Float64Array; starts: Float64Array; nums: Float64Array }>;
  /** The inode numbers /proc/locks names (its MAJ:MIN:INO fields: a lock or a waiter on each),
   * read on a worker thread (the read waits for an RCU grace period); null when it cannot be
   * read. */
  lockedInodes(): Promise<Float64Array | null>;
  /** The user database's entry of uid: name, primary gid and every group the user has at login
   * (getgrouplist, through NSS); null when there is none. Throws with code/errno/syscall. */
  /** The mappings of a /proc/PID/smaps text (buf[0, len)): in maps, 8 numbers per mapping
   * (start, end, pgoff, ino, then the numbers of its perms, device field, path and the text
   * after "VmFlags:" among the distinct texts); texts: where each distinct text starts and ends
   * in buf. null when a block is not a maps line followed by lines that end with its VmFlags
   * line (src/kernel/smaps.ts then parses it line by line). */
  smapsScan(buf: Uint8Array, len: number): { maps: Float64Array; texts: Float64Array } | null;
  userOf(uid: number): { name: string; gid: number; groups: number[] } | null;
  /** Under SCHED_FIFO/RR, the event loop calls sched_yield() once a turn from now on (started
   * when the addon is loaded under such a policy too; native/addon/rtyield.cc); true when it
   * does. */
  rtYield(): boolean;
  /** _exit(2) with status: the process ends at once, without Node's teardown (no 'exit' event,
   * no join of its threads). Only once nothing is left to write (src/cli/run.ts). */
  exitNow(status: number): never;
  /** posix_spawn of file with args (argv[0] is file) and env ("NAME=value" each): three new
   * pipes as its fds 0, 1, 2 (stdin the end to write, stdout and stderr the ends to read), fds[i]
   * as its fd 3 + i, signals 1-31 at their default disposition and none blocked (spawn.cc).
   * Throws with code/errno/syscall (posix_spawn: ENOENT, EACCES...). */
  spawnHelper(file: string, args: string[], fds: number[], env: string[]): [pid: number, pidfd: number, stdin: number, stdout: number, stderr: number];
  /** cb(code, signal) from the event loop once the process of pidfd has exited and is reaped
   * (signal 0 when it exited, else code -1); the pidfd is closed then. Keeps the loop alive
   * until then. */
  watchExit(pidfd: number, cb: (code: number, signal: number) => void): void;
  /** Reads the pipe end fd from the event loop (pipes.cc): cb(chunk, n) for each read (the
   * chunk's first n bytes), then cb(null, errno) once at its end (0: EOF), when fd is closed.
   * Keeps the loop alive until then. Throws with code/errno/syscall. */
  pipeRead(fd: number, cb: (chunk: Buffer | null, n: number) => void): void;
  /** Writes the pipe end fd from the event loop (pipes.cc): write() writes what the pipe takes
   * and keeps the rest (a copy), returning the bytes kept; cb('drain', 0) once they are
   * written; end() closes fd after them, destroy() at once; cb('close', errno) when fd is
   * closed (errno of a failed write, else 0). Throws with code/errno/syscall. */
  pipeWrite(fd: number, cb: (event: 'drain' | 'close', errno: number) => void): PipeWriter;
  /** isatty(3), without node:tty. */
  isatty(fd: number): boolean;
  /** v8::V8::SetFlagsFromString, as v8.setFlagsFromString (v8heap.cc). */
  setV8Flags(flags: string): void;
  /** space_size of V8's new_space and old_space, in bytes. */
  heapSpaceSizes(): [young: number, old: number];
  /** cb() from the event loop after garbage collections (once for those since the last call),
   * as a PerformanceObserver of 'gc' entries; does not keep the loop alive. Returns stop(). */
  watchGC(cb: () => void): () => void;
  /** A regular file mapped read-only (private, populated from the page cache): a Buffer over
   * the mapping, or (latin1) an external string of its bytes; unmapped when V8 lets it go
   * (mapfile.cc; bin/ucr maps the bundle and its code cache). Throws with code/errno/syscall. */
  mapFile(path: string, latin1: true): string;
  mapFile(path: string, latin1?: false): Buffer;
  /** A task's packed mappings (8 words each) merged with its other ones (start, end, fill
   * triples) and its packed runs (4 words each) checked as the reader checks them: their page
   * count, or -1; restAt[r]: how many packed entries come before other mapping r (vmap.cc). */
  vmapCheck(q: Uint32Array, rest: Float64Array, rq: Uint32Array, restAt: Int32Array): number;
  /** Packed mappings from `from` on as plan `vmas` entries (10 words) into out from entry outAt,
   * while plain (not shared, no MADV bit dp), up to `to` or out's end: where it stopped. */
  vmapPlan(q: Uint32Array, from: number, to: number, out: Uint32Array, outAt: number, dp: number, nr: number): number;
}

/** The writing end of a pipe (NativeAddon.pipeWrite). */
export interface PipeWriter {
  /** Writes b (what the pipe does not take now is copied and written later): the bytes kept. */
  write(b: Uint8Array): number;
  /** Closes the pipe once what is kept is written. */
  end(): void;
  /** Closes the pipe now; what is kept is dropped. */
  destroy(): void;
}

// (import.meta.dirname: Node 20.11 on, and the bundle's __dirname: no URL to make and take apart
// at every command's start, ~0.3 ms)
const here = (import.meta.dirname as string | undefined) ?? path.dirname(fileURLToPath(import.meta.url));
// here is dist/native (or src/native), or dist for the bundled command line (dist/ucr.cjs)
const root = path.resolve(here, path.basename(here) === 'native' ? '../..' : '..');
const release = path.join(root, 'build', 'Release');
const buildDirs = [release, path.join(root, 'build', 'Debug')];

let addon: NativeAddon | undefined;

/** The addon as bin/ucr loaded it to map the bundle before running it: that file's exports,
 * taken instead of a second dlopen (which would run its initialisation again). */
const PRELOADED = Symbol.for('ucr.native');

function preloaded(file: string): NativeAddon | undefined {
  const pre = (globalThis as Record<symbol, { file?: unknown; exports?: unknown } | undefined>)[PRELOADED];
  return pre && pre.file === file ? (pre.exports as NativeAddon) : undefined;
}

/** The addon if it was loaded already (nothing is loaded here). */
export function nativeLoaded(): NativeAddon | undefined {
  return (addon ??= preloaded(path.join(release, 'ucr_native.node')));
}

export function native(): NativeAddon {
  if (addon) return addon;
  const tried: string[] = [];
  for (const dir of buildDirs) {
    const file = path.join(dir, 'ucr_native.node');
    tried.push(file);
    if (existsSync(file)) {
      addon = preloaded(file);
      if (addon) return addon;
      // what require() of a .node file does, without its resolution and module record
      const m = { exports: {} as NativeAddon };
      process.dlopen(m, file);
      addon = m.exports;
      return addon;
    }
  }
  throw new Error(`ucr native addon not found (tried ${tried.join(', ')}); run npm install`);
}

/**
 * Under SCHED_FIFO or SCHED_RR, makes the event loop give the CPU to the threads of equal
 * priority once a turn (native/addon/rtyield.cc, which reads the policy itself and installs
 * nothing under the ordinary ones), which V8's garbage collector waits for without blocking.
 * Called where checkpoint and restart begin, before their first turn of the event loop (the
 * addon, which they need anyway, may have been loaded before the policy was set).
 */
export function yieldUnderRealtime(): void {
  native().rtYield();
}

export function helperPath(): string {
  const tried: string[] = [];
  for (const dir of buildDirs) {
    const file = path.join(dir, 'ucr-helper');
    tried.push(file);
    if (existsSync(file)) return file;
  }
  throw new UcrError(`ucr-helper: not found (tried ${tried.join(', ')}); run npm install`, { code: 'EHELPER', object: 'ucr-helper' });
}

export function crc32c(buf: Uint8Array, seed = 0): number {
  return native().crc32c(buf, seed);
}

/** digest := crc32c(digest, crc as 4 LE bytes), the chain the trailer carries. */
export function digestAdd(digest: number, crc: number): number {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(crc >>> 0);
  return crc32c(b, digest);
}
