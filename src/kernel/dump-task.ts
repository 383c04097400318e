/**
 * The checkpoint of one frozen task: asks the helper for what only ptrace or the task itself
 * can tell (registers, xstate, signal handlers, brk, rseq, limits, page runs) and reads the rest
 * from /proc. Pages are not touched here; the helper streams them later.
 */
import fs from 'node:fs';
import { CheckpointError, UnsupportedError } from '../errors.js';
import type { SigactionImage, TaskAttrs, TaskImage, ThreadSignals, TreeEntry, VmaImage } from '../image/types.js';
import type { Helper } from './helper.js';
import { classifyParts, classifyTask } from './memory.js';
import { listThreads, parseStat, parseTimers, readProcText, statusField, threadState } from './proc.js';
import { dumpRuns, dumpSeccomp, dumpState, type EvState } from './protocol.gen.js';
import { RUNS_PER_COMMAND, rangesOf } from './scan-runs.js';
import { seccompOf } from './seccomp.js';
import { FrameParts } from './frame-parts.js';
import { SKIP_FDINFO_MIN } from './fd-prefetch.js';
import { procFiles, type ProcFile } from './proc-files.js';
import type { CgroupRead } from './cgroups.js';
import { attrsOf, stopOf } from './task-attrs.js';

/** What the helper's `state` reports (protocol/schema.mjs). */
export interface StateFacts {
  /** the thread whose registers these are */
  tid: number;
  /** bytes of the binary frame before the event: this thread's registers (216 bytes) and
   * xstate (xlen bytes), then every other thread's, in the order of threads */
  bin: number;
  /** the frame (helper.ts) */
  blob?: Buffer;
  xlen: number;
  sigmask: string;
  rseq: [string, number, string, number];
  brk: string;
  pdeathsig: number;
  tidaddr: string;
  dumpable: number;
  /** comm: the hex of /proc/PID/task/TID/comm without its newline */
  threads: ({ tid: number; xlen: number; comm: string; sigmask: string; rseq: [string, number, string, number]; tidaddr: string } & SignalState)[];
  itimers: number[][];
  /** [id, interval s, ns, value s, ns, timer_getoverrun] */
  timers: [number, number, number, number, number, number][];
  subreaper: number;
  altstack: [string, number, number];
  pending: string;
  shpending: string;
  robust: [string, number];
  /** the dispositions other than the default (a handler, flags or a mask) */
  sigactions: [number, string, string, string, string][];
  rlimits: [string, string][];
  /** native/helper/checkpoint/dump_attrs.c */
  /** native/helper/checkpoint/dump_aio.c: each AIO ring mapped, and 0 if it is a context of the
   * task's own (else the errno io_getevents gave: EINVAL, a mapping inherited through fork) */
  aio?: [number, number][];
  /** sched: [tid, policy, flags, nice, priority, runtime, deadline, period, umin, umax,
   * personality, Cpus_allowed_list ("": not read by the helper)] */
  attrs: { membarrier: number; mlockall: number; thp: number; stopsig: number; seccomp: number; sched: [number, number, number, number, number, number, number, number, number, number, number, string][] };
  /** the bytes of each of PROC_FILES in the frame after the registers (-errno: not read by the
   * helper, read here) */
  proc?: number[];
  /** 1: smaps was long, its kept lines follow in `smaps` events (its length in proc is 0) */
  smaps?: number;
  /** 1: a thread's cgroups are not the process's (moved alone; the coordinator then reads each
   * thread's), 0 none (dump_procfs.c procfs_threads_apart) */
  cgapart?: number;
  /** the first other thread in another cgroup namespace than the process's: its tid and its
   * ns/cgroup link as hex (none: left out) */
  cgns?: [number, string];
  /** the close-on-exec bit of every open fd, as runs: first fd, count, bit (FD_CLOEXEC),
   * ascending (dump_state.c fd_flags: asked of the task when its fd table has more than the
   * command's fdmin slots); left out otherwise, or when the helper could not tell */
  fdflags?: number[];
}

interface SignalState {
  altstack: [string, number, number];
  pending: string;
  robust: [string, number];
}

function signalsOf(s: SignalState): ThreadSignals {
  const head = num(s.robust[0]);
  return { altstack: [num(s.altstack[0]), s.altstack[1], s.altstack[2]], pending: Buffer.from(s.pending, 'hex'), ...(head ? { robust: [head, s.robust[1]] as [number, number] } : {}) };
}

/** sizeof(struct user_regs_struct) (protocol/schema.mjs REGS) */
const REGS_SIZE = 216;

function threadComm(pid: number, tid: number): string {
  return readProcText(`/proc/${pid}/task/${tid}/comm`, 'utf8').replace(/\n$/, '');
}

/** A u64 from the helper's hex text: a number when exact, else a bigint. */
export function u64(hexText: string): bigint | number {
  // "0x" and up to 13 hex digits (< 2^52): exact as a number, without a BigInt (a task's state
  // has ~300 such values)
  if (hexText.length <= 15 && hexText.startsWith('0x') && /^0x[0-9a-fA-F]+$/.test(hexText)) return parseInt(hexText.slice(2), 16);
  const b = BigInt(hexText);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function num(hexText: string): number {
  const v = u64(hexText);
  if (typeof v === 'bigint') throw new Error(`value ${hexText} out of range`);
  return v;
}

/** A task's state asked of the helper ahead of its capture: every task's `state` goes out at
 * once (the helper answers in order), so the helper works on the next tasks while this process
 * reads the /proc files of the ones already answered. */
export interface StateRequest {
  pid: number;
  /** the thread whose /proc files are read (undefined: every thread had exited) */
  procPid: number | undefined;
  state?: Promise<EvState>;
}

/** The thread whose /proc files stand for the process (undefined: every thread has exited).
 * A process whose main thread has exited while others run: its /proc/PID shows the dead
 * thread (no memory, no fds); everything is read through a live thread's /proc/TID instead.
 * (Per-thread stat files: /proc/TID/stat would sum over every thread of the process.) */
export function procPidOf(pid: number): number | undefined {
  const main = threadState(pid, pid);
  return main === 'Z' ? listThreads(pid).find((t) => t !== pid && threadState(pid, t) !== 'Z') : main ? pid : undefined;
}

/** out: the command is added to it, for the caller to send with others (one write), instead of
 * sent here. */
export function requestState(h: Helper, pid: number, procPid = procPidOf(pid), out?: string[]): StateRequest {
  if (!procPid) return { pid, procPid: undefined };
  // the helper reads the POSIX timers' ids; the close-on-exec bits for the fd scan (fd-prefetch.ts)
  const line = dumpState({ pid, proc: procPid, fdmin: SKIP_FDINFO_MIN });
  if (out) out.push(line);
  else h.send(line);
  const state = h.next('state');
  state.catch(() => {}); // awaited by captureTask; a failure must not be "unhandled" until then
  return { pid, procPid, state };
}

/** A captured task whose page scans are still to be collected (collectRuns). */
export interface Captured {
  task: TaskImage;
  entry: TreeEntry;
  procPid: number;
  scanned: VmaImage[];
  /** /proc/PID/cgroup and the /proc/PID/ns/cgroup link ('' where there is none), as the helper
   * read them, whether a thread is in other cgroups than the process's, and the first thread in
   * another cgroup namespace with its link (cgroups.ts) */
  cgroup: CgroupRead;
  /** the close-on-exec bits of its fds, as the helper gave them (StateFacts.fdflags) */
  fdFlags?: number[];
}

/** stateBefore: the /proc state letter read before freezing (frozen tasks all show 't').
 * fds are filled in later by the tree-wide file capture; pageRuns by collectRuns. pending:
 * commands for the helper written with this task's page scans (one write), emptied. */
export async function captureTask(h: Helper, req: StateRequest, stateBefore: string, stats?: Map<string, fs.Stats>, parts = new FrameParts(), pending: string[] = []): Promise<Captured> {
  const { pid, procPid } = req;
  if (!procPid || !req.state) throw new CheckpointError(`process ${pid}: exited during the checkpoint`, { pid, code: 'ESRCH', phase: 'capture' });
  return { ...(await captureLive(h, req, procPid, stateBefore, stats, parts, pending)), procPid };
}

async function captureLive(h: Helper, req: StateRequest, proc: number, stateBefore: string, stats: Map<string, fs.Stats> | undefined, parts: FrameParts, pending: string[]): Promise<Omit<Captured, 'procPid'>> {
  const { pid } = req;
  const st = await req.state!;
  // registers and xstate: views of the helper's binary frame, thread after thread; the /proc
  // files after them
  const blob = st.blob;
  if (!blob || blob.length !== st.bin) throw new CheckpointError(`process ${pid}: the helper's registers frame is missing or cut short`, { pid, phase: 'capture' });
  let at = 0;
  const take = (n: number): Buffer => {
    if (!Number.isSafeInteger(n) || n < 0 || at + n > blob.length) throw new CheckpointError(`process ${pid}: the helper's registers frame is shorter than its threads`, { pid, phase: 'capture' });
    return blob.subarray(at, (at += n));
  };
  const regsOf = take(REGS_SIZE + st.xlen);
  const othersOf = st.threads.map((t) => take(REGS_SIZE + t.xlen));
  const files = procFiles(proc, st.proc, blob.subarray(at));
  // the thread the helper worked through: the main one unless it had exited when frozen
  const leaderExited = st.tid !== pid;
  const stat = parseStat(files.text('stat'));
  const statusText = files.text('status'), status = { get: (k: string) => statusField(statusText, k) }; // a dozen fields of ~60
  const exe = files.text('exe');
  // the POSIX timers: /proc/PID/timers as the helper read it, whose ids it asked the time of
  const ptimers = parseTimers(files.text('timers'));
  if (ptimers.length !== st.timers.length || ptimers.some((t, i) => t.id !== st.timers[i]![0]))
    throw new CheckpointError(`process ${pid}: its POSIX timers changed during the checkpoint`, { pid, phase: 'capture' });
  // threads under seccomp (the helper suspended it for them at the freeze): their filters
  const seccomp = st.attrs.seccomp ? (h.send(dumpSeccomp({ pid })), h.next('seccomp')) : undefined;
  seccomp?.catch(() => {}); // awaited below; a refusal before that must not leave it "unhandled"
  if (exe.endsWith(' (deleted)'))
    throw new UnsupportedError(`process ${pid}: its executable ${exe} was deleted`, { pid, phase: 'memory' });

  // read only once the helper is done with the task: its injected calls map a gadget. Every
  // mapping's pagemap scan is asked for as its command's 256 mappings are classified (the
  // helper scans them while the rest is classified; it answers in order, collectRuns)
  const scanned: VmaImage[] = [];
  const ask = (from: number) => h.send(dumpRuns({ pid, ranges: rangesOf(scanned, from) }));
  // the last command goes out with the commands pended for the helper (the next task's state)
  const askLast = (from: number) => h.sendLines([dumpRuns({ pid, ranges: rangesOf(scanned, from) }), ...pending.splice(0)]);
  const scan = (v: VmaImage) => {
    if (scanned.push(v) % RUNS_PER_COMMAND === 0) ask(scanned.length - RUNS_PER_COMMAND);
  };
  // a long smaps comes in parts after the state, classified as they come (dump_smaps.c)
  const { vmas, specials } =
    st.smaps === 1
      ? await classifyParts(pid, proc, new Map(st.aio ?? []), stats ?? new Map(), () => smapsPart(h, pid, proc), scan, (b) => h.reuse(b))
      : classifyTask(pid, proc, new Map(st.aio ?? []), stats, files.bytes('smaps'), scan);
  if (scanned.length % RUNS_PER_COMMAND) askLast(scanned.length - (scanned.length % RUNS_PER_COMMAND));
  if (pending.length) h.sendLines(pending.splice(0));
  // any part of the [vvar][vvar_vclock][vdso] group may be unmapped or moved: restore_vdso.c
  const pageRuns: [number, number][] = [];

  const sigactions: SigactionImage[] = st.sigactions
    .map(([sig, handler, flags, restorer, mask]) => ({ sig, handler: num(handler), flags: u64(flags), restorer: num(restorer), mask: u64(mask) }))
    .filter((a) => a.handler !== 0 || a.flags !== 0 || a.mask !== 0);
  const [rseqPtr, rseqLen, rseqSig] = st.rseq;
  // copied out of the frame (given back to the helper below), each XSAVE area once by content
  const split = (b: Buffer) => ({ regs: Buffer.from(b.subarray(0, REGS_SIZE)), xstate: parts.bytes(b.subarray(REGS_SIZE)) });
  const { regs, xstate } = split(regsOf);
  const others = othersOf.map(split);
  const ids = (line: string | undefined) => (line ?? '').split(/\s+/).filter(Boolean).map(Number);
  const task: TaskImage = {
    pid,
    comm: stat.comm,
    exe,
    ...cwdOf(proc, files.text('cwd')),
    umask: parseInt(status.get('Umask') ?? '022', 8),
    creds: {
      uid: ids(status.get('Uid')),
      gid: ids(status.get('Gid')),
      groups: ids(status.get('Groups')),
      dumpable: st.dumpable,
      caps: {
        inheritable: parts.text(status.get('CapInh') ?? ''),
        permitted: parts.text(status.get('CapPrm') ?? ''),
        effective: parts.text(status.get('CapEff') ?? ''),
        bounding: parts.text(status.get('CapBnd') ?? ''),
        ambient: parts.text(status.get('CapAmb') ?? ''),
      },
    },
    regs,
    xstate,
    sigmask: u64(st.sigmask),
    rseq: num(rseqPtr) ? { ptr: num(rseqPtr), len: rseqLen, sig: num(rseqSig) } : null,
    pdeathsig: st.pdeathsig,
    sigactions,
    rlimits: st.rlimits.map(([c, m]) => [u64(c), u64(m)]),
    mm: {
      startCode: stat.startCode,
      endCode: stat.endCode,
      startData: stat.startData,
      endData: stat.endData,
      startBrk: stat.startBrk,
      brk: num(st.brk),
      startStack: stat.startStack,
      argStart: stat.argStart,
      argEnd: stat.argEnd,
      envStart: stat.envStart,
      envEnd: stat.envEnd,
    },
    auxv: Buffer.from(files.bytes('auxv') ?? Buffer.from(files.text('auxv'), 'latin1')),
    tidAddress: num(st.tidaddr),
    leaderExited,
    threads: [
      // with the main thread gone, the thread the helper worked through is one of the others
      ...(leaderExited
        ? [{ tid: st.tid, comm: threadComm(pid, st.tid), regs, xstate, sigmask: u64(st.sigmask),
            rseq: num(st.rseq[0]) ? { ptr: num(st.rseq[0]), len: st.rseq[1], sig: num(st.rseq[2]) } : null, tidAddress: num(st.tidaddr), signals: signalsOf(st) }]
        : []),
      ...st.threads.map((t, i) => ({
      tid: t.tid,
      comm: Buffer.from(t.comm, 'hex').toString('utf8'),
      regs: others[i]!.regs,
      xstate: others[i]!.xstate,
      sigmask: u64(t.sigmask),
      rseq: num(t.rseq[0]) ? { ptr: num(t.rseq[0]), len: t.rseq[1], sig: num(t.rseq[2]) } : null,
      tidAddress: num(t.tidaddr),
      signals: signalsOf(t),
    })),
    ],
    signals: { ...signalsOf(st), shared: Buffer.from(st.shpending, 'hex') },
    itimers: st.itimers,
    subreaper: st.subreaper !== 0,
    ...cttyOf(pid, stat),
    personality: parseInt(files.text('personality').trim(), 16),
    noNewPrivs: status.get('NoNewPrivs') === '1',
    attrs: { ...attrsOf(proc, st.attrs, status.get('Cpus_allowed_list'), files.text), ...rootOf(pid, files.text('root')), ...(stateBefore === 'T' ? stopOf(st.attrs.stopsig) : {}) },
    ...(seccomp ? { seccomp: seccompOf(pid, (await seccomp).threads) } : {}),
    posixTimers: ptimers.map((t, i) => {
      const [, is, ins, vs, vns, overrun] = st.timers[i]!;
      return { id: t.id, clock: t.clock, notify: t.notify, signo: t.signo, sigval: t.sigval, tid: t.tid, interval: [is, ins], value: [vs, vns], ...(overrun > 0 ? { overrun } : {}) };
    }),
    specials,
    vmas,
    fds: [],
    pageRuns,
  };
  const threads = task.threads.length + 1; // as frozen (an exited main thread counts, as in /proc)
  const state = stateBefore === 'T' ? 'stopped' : stateBefore === 'Z' ? 'zombie' : 'running';
  const nsPid = Number((status.get('NSpid') ?? '').split(/\s+/).at(-1));
  const cgroup: CgroupRead = { text: files.text('cgroup'), ns: cgroupNs(files.text), apart: st.cgapart === 1 };
  if (st.cgns) cgroup.nsThread = [st.cgns[0], Buffer.from(st.cgns[1], 'hex').toString()];
  h.reuse(blob); // everything needed is copied out of it (strings, registers, parts)
  return {
    task,
    scanned,
    cgroup,
    fdFlags: st.fdflags,
    entry: { pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid, comm: stat.comm, state, threads, ...(nsPid && nsPid !== pid ? { nsPid } : {}) },
  };
}

/** The task's cgroup namespace link ('' in a kernel without cgroup namespaces). */
function cgroupNs(text: (f: ProcFile) => string): string {
  try {
    return text('ns/cgroup');
  } catch {
    return '';
  }
}

/** The next part of a task's smaps that the helper streams after its state (whole mappings). */
async function smapsPart(h: Helper, pid: number, proc: number): Promise<{ bytes: Buffer; last: boolean }> {
  const ev = await h.next('smaps');
  const b = (ev as { blob?: Buffer }).blob;
  if (ev.pid !== proc || !b || b.length !== ev.bin) throw new CheckpointError(`process ${pid}: the helper's smaps is cut short or another process's`, { pid, phase: 'capture' });
  return { bytes: b, last: ev.last === 1 };
}

function rootOf(pid: number, root: string): { root?: string } {
  if (root.endsWith(' (deleted)')) throw new UnsupportedError(`process ${pid}: its root directory ${root} was removed`, { pid });
  return root === '/' ? {} : { root };
}

/** A controlling terminal that is a pty (/dev/pts/N, majors 136-143) and, for a session leader,
 * its foreground group: the restart gives them back when the pty is part of the image. */
function cttyOf(pid: number, stat: { ttyNr: number; tpgid: number; sid: number }): { ctty?: number; tpgid?: number } {
  const major = (stat.ttyNr >> 8) & 0xfff;
  if (major < 136 || major > 143) return {};
  const index = (major - 136) * 256 + ((stat.ttyNr & 0xff) | ((stat.ttyNr >> 12) & 0xfff00));
  return stat.sid === pid && stat.tpgid > 0 ? { ctty: index, tpgid: stat.tpgid } : { ctty: index };
}

/** The cwd; a removed one ("PATH (deleted)" and no links) also as the inode that objects.ts turns
 * into a content object (kind unlinked-dir), recreated and removed again at restart. */
function cwdOf(proc: number, cwd: string): { cwd: string; cwdObj?: number } {
  if (!cwd.endsWith(' (deleted)')) return { cwd };
  const st = fs.statSync(`/proc/${proc}/cwd`);
  if (st.nlink === 0) return { cwd: cwd.slice(0, -' (deleted)'.length), cwdObj: st.ino };
  // gone from its path but not an empty removed directory: the /proc directory of a process
  // that has exited (zdtm unhashed_proc), or a directory of another pseudo filesystem
  throw new UnsupportedError(`process ${proc}: its working directory ${cwd} no longer exists and cannot be made again: not supported`, { pid: proc, phase: 'capture' });
}
