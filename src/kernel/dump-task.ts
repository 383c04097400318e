/**
 * The checkpoint of one frozen task: asks the helper for what only ptrace or the task itself
 * can tell (registers, xstate, signal handlers, brk, rseq, limits, page runs) and reads the rest
 * from /proc. Pages are not touched here; the helper streams them later.
 */
import fs from 'node:fs';
import { CheckpointError, UnsupportedError } from '../errors.js';
import type { SigactionImage, TaskImage, ThreadSignals, TreeEntry } from '../image/types.js';
import type { Helper } from './helper.js';
import { classify, mayHoldPrivatePages } from './memory.js';
import { listThreads, readLink, readSmaps, readStat, readStatus, readTimers, threadState } from './proc.js';
import { dumpRuns, dumpState } from './protocol.gen.js';

/** What the helper's `state` reports (protocol/schema.mjs). */
export interface StateFacts {
  /** the thread whose registers these are */
  tid: number;
  regs: string;
  xstate: string;
  sigmask: string;
  rseq: [string, number, string, number];
  brk: string;
  pdeathsig: number;
  tidaddr: string;
  dumpable: number;
  threads: ({ tid: number; regs: string; xstate: string; sigmask: string; rseq: [string, number, string, number]; tidaddr: string } & SignalState)[];
  itimers: number[][];
  timers: [number, number, number, number, number][];
  subreaper: number;
  altstack: [string, number, number];
  pending: string;
  shpending: string;
  robust: [string, number];
  sigactions: [number, string, string, string, string][];
  rlimits: [string, string][];
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

function threadComm(pid: number, tid: number): string {
  return fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').replace(/\n$/, '');
}

/** A u64 from the helper's hex text: a number when exact, else a bigint. */
export function u64(hexText: string): bigint | number {
  const b = BigInt(hexText);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function num(hexText: string): number {
  const v = u64(hexText);
  if (typeof v === 'bigint') throw new Error(`value ${hexText} out of range`);
  return v;
}

/** stateBefore: the /proc state letter read before freezing (frozen tasks all show 't').
 * fds are filled in later by the tree-wide file capture. */
export async function captureTask(
  h: Helper,
  pid: number,
  stateBefore: string,
): Promise<{ task: TaskImage; entry: TreeEntry; procPid: number }> {
  // A process whose main thread has exited while others run: its /proc/PID shows the dead
  // thread (no memory, no fds); read everything through a live thread's /proc/TID instead.
  // (Per-thread stat files: /proc/TID/stat would sum over every thread of the process.)
  const main = threadState(pid, pid);
  const procPid = main === 'Z' ? listThreads(pid).find((t) => t !== pid && threadState(pid, t) !== 'Z') : main && pid;
  if (!procPid) throw new CheckpointError(`process ${pid}: exited during the checkpoint`, { pid, code: 'ESRCH', phase: 'capture' });
  return { ...(await captureLive(h, pid, procPid, stateBefore)), procPid };
}

async function captureLive(h: Helper, pid: number, proc: number, stateBefore: string): Promise<{ task: TaskImage; entry: TreeEntry }> {
  const ptimers = readTimers(proc);
  h.send(dumpState({ pid, timers: ptimers.map((t) => t.id) }));
  const st = await h.next('state');
  // the thread the helper worked through: the main one unless it had exited when frozen
  const leaderExited = st.tid !== pid;
  const stat = readStat(proc);
  const status = readStatus(proc);
  const exe = readLink(`/proc/${proc}/exe`);
  const seccomp = status.get('Seccomp') ?? '0';
  if (seccomp !== '0')
    throw new UnsupportedError(`process ${pid} runs under seccomp (${seccomp === '1' ? 'strict mode' : 'filter mode'}): it cannot be restored yet`, { pid });
  if (exe.endsWith(' (deleted)'))
    throw new UnsupportedError(`process ${pid}: its executable ${exe} was deleted`, { pid, phase: 'memory' });

  const { vmas, specials } = classify(pid, readSmaps(proc));
  if (!specials.some((s) => s.name === '[vdso]') || !specials.some((s) => s.name === '[vvar]'))
    throw new UnsupportedError(`process ${pid}: no [vvar]/[vdso] mappings (a moved or unmapped vdso is not supported)`, { pid });
  const pageRuns: [number, number][] = [];
  // every mapping's pagemap scan asked for at once (one write, the helper answers in order)
  const scanned = vmas.filter(mayHoldPrivatePages);
  if (scanned.length) h.send(...scanned.map((v) => dumpRuns({ pid, start: v.start, end: v.end })));
  for (const v of scanned) {
    // answers come in order: the next one is this mapping's (a search of the queue by start
    // address made 10,000 mappings cost 10^8 comparisons)
    const ev = await h.next('runs');
    if (ev.start !== v.start) throw new CheckpointError(`process ${pid}: page scan answered for ${ev.start} instead of ${v.start}`, { pid, phase: 'capture' });
    if (ev.runs.length) v.fill = true;
    for (const r of ev.runs) pageRuns.push(r);
  }

  const sigactions: SigactionImage[] = st.sigactions
    .map(([sig, handler, flags, restorer, mask]) => ({ sig, handler: num(handler), flags: u64(flags), restorer: num(restorer), mask: u64(mask) }))
    .filter((a) => a.handler !== 0 || a.flags !== 0 || a.mask !== 0);
  const [rseqPtr, rseqLen, rseqSig] = st.rseq;
  const ids = (line: string | undefined) => (line ?? '').split(/\s+/).filter(Boolean).map(Number);
  const task: TaskImage = {
    pid,
    comm: stat.comm,
    exe,
    ...cwdOf(proc),
    umask: parseInt(status.get('Umask') ?? '022', 8),
    creds: {
      uid: ids(status.get('Uid')),
      gid: ids(status.get('Gid')),
      groups: ids(status.get('Groups')),
      dumpable: st.dumpable,
      caps: {
        inheritable: status.get('CapInh') ?? '',
        permitted: status.get('CapPrm') ?? '',
        effective: status.get('CapEff') ?? '',
        bounding: status.get('CapBnd') ?? '',
        ambient: status.get('CapAmb') ?? '',
      },
    },
    regs: Buffer.from(st.regs, 'hex'),
    xstate: Buffer.from(st.xstate, 'hex'),
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
    auxv: fs.readFileSync(`/proc/${proc}/auxv`),
    tidAddress: num(st.tidaddr),
    leaderExited,
    threads: [
      // with the main thread gone, the thread the helper worked through is one of the others
      ...(leaderExited
        ? [{ tid: st.tid, comm: threadComm(pid, st.tid), regs: Buffer.from(st.regs, 'hex'), xstate: Buffer.from(st.xstate, 'hex'), sigmask: u64(st.sigmask),
            rseq: num(st.rseq[0]) ? { ptr: num(st.rseq[0]), len: st.rseq[1], sig: num(st.rseq[2]) } : null, tidAddress: num(st.tidaddr), signals: signalsOf(st) }]
        : []),
      ...st.threads.map((t) => ({
      tid: t.tid,
      comm: threadComm(pid, t.tid),
      regs: Buffer.from(t.regs, 'hex'),
      xstate: Buffer.from(t.xstate, 'hex'),
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
    personality: parseInt(fs.readFileSync(`/proc/${proc}/personality`, 'latin1').trim(), 16),
    noNewPrivs: status.get('NoNewPrivs') === '1',
    posixTimers: ptimers.map((t, i) => {
      const [, is, ins, vs, vns] = st.timers[i]!;
      return { id: t.id, clock: t.clock, notify: t.notify, signo: t.signo, sigval: t.sigval, tid: t.tid, interval: [is, ins], value: [vs, vns] };
    }),
    specials,
    vmas,
    fds: [],
    pageRuns,
  };
  const threads = task.threads.length + 1; // as frozen (an exited main thread counts, as in /proc)
  const state = stateBefore === 'T' ? 'stopped' : stateBefore === 'Z' ? 'zombie' : 'running';
  const nsPid = Number((status.get('NSpid') ?? '').split(/\s+/).at(-1));
  return {
    task,
    entry: { pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid, comm: stat.comm, state, threads, ...(nsPid && nsPid !== pid ? { nsPid } : {}) },
  };
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
function cwdOf(proc: number): { cwd: string; cwdObj?: number } {
  const cwd = readLink(`/proc/${proc}/cwd`);
  if (!cwd.endsWith(' (deleted)')) return { cwd };
  const st = fs.statSync(`/proc/${proc}/cwd`);
  return st.nlink === 0 ? { cwd: cwd.slice(0, -' (deleted)'.length), cwdObj: st.ino } : { cwd };
}
