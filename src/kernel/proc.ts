/** Parsers for the /proc files a checkpoint reads (text in, typed facts out). */
import fs from 'node:fs';
import { native } from '../native/addon.js';

let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * A small /proc file as latin1 text: open, read into one reused buffer, close (readFileSync
 * also fstat()s and allocates a buffer per call; a tree of 100 tasks with 400 fds each reads
 * 40,000 fdinfo files).
 */
export function readProcText(path: string, encoding: 'latin1' | 'utf8' = 'latin1'): string {
  const fd = fs.openSync(path, 'r');
  try {
    let len = 0;
    for (;;) {
      if (len === scratch.length) {
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger);
        scratch = bigger;
      }
      const n = fs.readSync(fd, scratch, len, scratch.length - len, null);
      if (n === 0) break;
      len += n;
    }
    return scratch.toString(encoding, 0, len);
  } finally {
    fs.closeSync(fd);
  }
}

/** A path field of /proc text as the kernel escaped it (mountinfo's root and mount point, a
 * seq_file's mangle_path: space, tab, newline and backslash as \ooo), decoded. */
export function procUnescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export interface ProcStat {
  comm: string;
  state: string;
  ppid: number;
  pgid: number;
  sid: number;
  startCode: number;
  endCode: number;
  startStack: number;
  startData: number;
  endData: number;
  startBrk: number;
  argStart: number;
  argEnd: number;
  envStart: number;
  envEnd: number;
  /** wait status of a zombie */
  exitCode: number;
  /** controlling terminal (dev_t as the kernel encodes it, 0: none) and its foreground group */
  ttyNr: number;
  tpgid: number;
}

/** /proc/PID/stat; comm may hold spaces and parentheses, so fields count from the last ')'. */
export function readStat(pid: number): ProcStat {
  return parseStat(readProcText(`/proc/${pid}/stat`));
}

/** The text of a /proc/PID/stat (readStat). */
export function parseStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).trim().split(' ');
  const n = (field: number): number => Number(f[field - 3]);
  return {
    comm,
    state: f[0]!,
    ppid: n(4),
    pgid: n(5),
    sid: n(6),
    startCode: n(26),
    endCode: n(27),
    startStack: n(28),
    startData: n(45),
    endData: n(46),
    startBrk: n(47),
    argStart: n(48),
    argEnd: n(49),
    envStart: n(50),
    envEnd: n(51),
    exitCode: n(52),
    ttyNr: n(7),
    tpgid: n(8),
  };
}

/** One field of a /proc/PID/status text (its value after the colon, trimmed), without parsing
 * the rest. */
export function statusField(text: string, key: string): string | undefined {
  const at = text.startsWith(key + ':') ? 0 : text.indexOf('\n' + key + ':') + 1;
  if (at === 0 && !text.startsWith(key + ':')) return undefined;
  const nl = text.indexOf('\n', at);
  return text.slice(at + key.length + 1, nl < 0 ? text.length : nl).trim();
}

export interface FdInfo {
  pos: number;
  flags: number;
  mntId: number;
  ino: number;
  extra: Map<string, string>;
  /** the "lock:" lines, as they are (locks.ts) */
  locks: string[];
}

export function readFdInfo(pid: number, fd: number): FdInfo {
  return parseFdInfo(readProcText(`/proc/${pid}/fdinfo/${fd}`));
}

function parseFdInfo(text: string): FdInfo {
  const extra = new Map<string, string>();
  const locks: string[] = [];
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i);
    if (k === 'lock') locks.push(line);
    else extra.set(k, line.slice(i + 1).trim());
  }
  return {
    locks,
    pos: Number(extra.get('pos') ?? 0),
    flags: parseInt(extra.get('flags') ?? '0', 8),
    mntId: Number(extra.get('mnt_id') ?? 0),
    ino: Number(extra.get('ino') ?? 0),
    extra,
  };
}

/** What a checkpoint asks of an open file's stat (fs.Stats has it all; scanFds makes these). */
export type FdStat = Pick<fs.Stats, 'dev' | 'ino' | 'mode' | 'nlink' | 'rdev' | 'size' | 'isFile' | 'isDirectory' | 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice' | 'isSymbolicLink'>;

/** The addon's fdScan: FD_STRIDE numbers per fd (the F_ fields below) and the fdinfo texts. */
export const FD_STRIDE = 11;
export const F_FD = 0;
/** without the fdinfo (filesOfOthers): the stat of the open file */
export const F_DEV = 1;
export const F_INO = 2;
export const F_MODE = 3;
/** with the fdinfo (fdTable): its mnt_id and ino, which an open file has one of each of (0 and
 * the stat's inode on a kernel without "ino:" in fdinfo) */
export const F_MNT = 1;
export const F_FINO = 2;
/** the fdinfo's flags (the open file's, and O_CLOEXEC, the fd's) */
export const F_FLAGS = 7;
/** 1 when the fdinfo has a "lock:" line */
export const F_LOCKS = 10;

/** Every fd of a process, ascending, as numbers (no object per fd: a tree of 1,000 tasks with
 * 400 fds each has 400,000); factsAt() makes the stat and fdinfo of the few that need them.
 * fds closed meanwhile are left out. */
export interface FdTable {
  pid: number;
  nums: Float64Array;
  info: string;
  count: number;
  /** scanned ahead (fd-prefetch.ts): the stat and link of the fds that need them */
  facts?: Float64Array;
  links?: string;
}

export function fdTable(pid: number): FdTable {
  const { nums, info } = native().fdScan(pid);
  return { pid, nums, info, count: nums.length / FD_STRIDE };
}

/** The stat (of the open file, through /proc) and fdinfo of the i-th fd of a table; throws
 * when the fd is gone. */
export function factsAt(t: FdTable, i: number): { fd: number; stat: FdStat; info: FdInfo } {
  const n = t.nums;
  const b = i * FD_STRIDE;
  const fd = n[b]!;
  return { fd, stat: fs.statSync(`/proc/${t.pid}/fd/${fd}`), info: parseFdInfo(t.info.slice(n[b + 8]!, n[b + 9]!)) };
}

/** The fdinfo of the i-th fd of a table. */
export function fdInfoAt(t: FdTable, i: number): FdInfo {
  const b = i * FD_STRIDE;
  return parseFdInfo(t.info.slice(t.nums[b + 8]!, t.nums[b + 9]!));
}

/** Every fd of a process (ascending) with the stat of its open file and its fdinfo, in one
 * native call (the addon's fdScan) and a stat per fd; fds closed meanwhile are left out. */
export function scanFds(pid: number): { fd: number; stat: FdStat; info: FdInfo }[] {
  const t = fdTable(pid);
  const out: { fd: number; stat: FdStat; info: FdInfo }[] = [];
  for (let i = 0; i < t.count; i++)
    try {
      out.push(factsAt(t, i));
    } catch {
      // closed meanwhile
    }
  return out;
}

export function listFds(pid: number): number[] {
  return fs
    .readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b);
}

export function listThreads(pid: number): number[] {
  return fs
    .readdirSync(`/proc/${pid}/task`)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Direct children of pid (over all its threads). */
export function listChildren(pid: number): number[] {
  const kids: number[] = [];
  for (const tid of listThreads(pid)) {
    try {
      const t = readProcText(`/proc/${pid}/task/${tid}/children`).trim();
      if (t) kids.push(...t.split(/\s+/).map(Number));
    } catch {
      /* thread gone */
    }
  }
  return kids;
}

export function readLink(p: string): string {
  return fs.readlinkSync(p);
}

function stateLetter(statPath: string): string | undefined {
  // a pid that is free (every pid a restart asks for) answers without an exception: a failed
  // open makes one (~25 us: 2.5 ms of a tree of 100's restart)
  if (!fs.existsSync(statPath)) return undefined;
  try {
    const text = readProcText(statPath);
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** The state letter of pid, or undefined when there is no such process. */
export function pidState(pid: number): string | undefined {
  return stateLetter(`/proc/${pid}/stat`);
}

/** The state letter of one thread of pid, or undefined when it is gone. Cheap for any number
 * of threads: /proc/TID/stat would sum over the whole process for each read. */
export function threadState(pid: number, tid: number): string | undefined {
  return stateLetter(`/proc/${pid}/task/${tid}/stat`);
}

export interface ProcTimer {
  id: number;
  signo: number;
  sigval: bigint | number;
  notify: 'signal' | 'thread' | 'none';
  tid: number;
  clock: number;
}

/** /proc/PID/timers: the task's POSIX timers (times are asked from the task itself). */
export function readTimers(pid: number): ProcTimer[] {
  return parseTimers(readProcText(`/proc/${pid}/timers`));
}

/** readTimers() of the text of /proc/PID/timers */
export function parseTimers(text: string): ProcTimer[] {
  const out: ProcTimer[] = [];
  let cur: Partial<ProcTimer> = {};
  for (const line of text.split('\n')) {
    const [k, v] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()];
    if (k === 'ID') {
      cur = { id: Number(v) };
      out.push(cur as ProcTimer);
    } else if (k === 'signal') {
      const [sig, val] = v.split('/');
      cur.signo = Number(sig);
      const b = BigInt('0x' + (val || '0'));
      cur.sigval = b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
    } else if (k === 'notify') {
      // "signal/pid.N", "none/pid.N"; aimed at a thread (SIGEV_THREAD_ID, also what glibc makes
      // of SIGEV_THREAD): "signal/tid.N"
      const m = /^(\w+)\/(\w+)\.(\d+)/.exec(v);
      cur.notify = (m?.[2] === 'tid' ? 'thread' : (m?.[1] ?? 'signal')) as ProcTimer['notify'];
      cur.tid = Number(m?.[3] ?? 0);
    } else if (k === 'ClockID') {
      cur.clock = Number(v);
    }
  }
  return out;
}

/** The open file (dev, ino, mode) of every fd of every process except those skipped, one
 * native call per process (fdsOfOthers would stat each fd through Node's fs), as each process's
 * fdScan numbers (FD_STRIDE per fd; no fdinfo). Processes that vanish meanwhile are passed over.
 * nums is valid until the next process: one buffer for all of them (the machine's other
 * processes may hold hundreds of thousands of fds, ~90 bytes each; a buffer per process was
 * tens of MB of garbage, outside V8's heap, at once). */
export function* filesOfOthers(skip: (pid: number) => boolean): Generator<{ pid: number; nums: Float64Array }> {
  const scan = native().fdScan;
  let buf: Float64Array = new Float64Array(FD_STRIDE * 1024);
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!pid || skip(pid)) continue;
    let nums: Float64Array;
    try {
      nums = scan(pid, false, buf).nums;
    } catch {
      continue;
    }
    if (nums.buffer !== buf.buffer) buf = nums; // more fds than it held: the larger one next
    yield { pid, nums };
  }
}

/** Every fd of every process except those skipped (the tree, ucr): where outside holders of
 * the tree's objects are looked for. Processes and fds that vanish meanwhile are passed over. */
export function* fdsOfOthers(skip: (pid: number) => boolean): Generator<{ pid: number; fd: number }> {
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!pid || skip(pid)) continue;
    let fds: number[];
    try {
      fds = listFds(pid);
    } catch {
      continue;
    }
    for (const fd of fds) yield { pid, fd };
  }
}

/** For a refusal naming a process outside the tree that shares something with one inside:
 * when both are in one session (an orphan of it, its leader...) other than ucr's own, the
 * whole session is the checkpoint to make. */
export function sessionHint(inside: number, outside: number): string {
  try {
    const sid = readStat(inside).sid;
    if (sid !== readStat(outside).sid || sid === readStat(process.pid).sid) return '';
    return `it is in session ${sid} of the tree: checkpoint the whole session with --session ${sid}, or `;
  } catch {
    return '';
  }
}

/** A process's name, or '?' once it is gone. */
export function commOf(pid: number): string {
  try {
    return readProcText(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}
