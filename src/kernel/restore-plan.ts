/** Turns the image plus a tree plan into the helper's restore plan lines (native/helper/restore/plan.h). */
import type { CowTask, StreamPart } from '../image/cow.js';
import { ImageError } from '../errors.js';
import type { ImageFiles, TaskAttrs, TaskImage } from '../image/types.js';
import { vdsoParts } from '../image/format-minor.js';
import { fdRows, usedLength, xstateParts } from '../image/task-compact.js';
import { getU64, packPairs } from '../image/u64.js';
import { packedVmasOf } from '../image/packed-task.js';
import type { PlanTask } from '../orchestrator/plan-tree.js';
import { onlineOf } from './affinity.js';
import { epollGhostLines } from './fds/epoll.js';
import { pipeLine } from './fds/pipe.js';
import { ttyLine, ttyModesLine } from './fds/pty.js';
import { opsOf, type RestoreContext } from './fds/registry.js';
import * as P from './protocol.gen.js';
import { lockRange } from './locks.js';
import { objectLines } from './objects.js';
import { restartFixup } from './syscall-restart.js';
import { seccompLines } from './seccomp.js';
import { VMAS_LINE, vmaLines } from './restore-plan-vmas.js';

const KIND = { task: 0, zombie: 1, placeholder: 2, init: 3 } as const;

/** A comm as the helper takes it: at most 15 bytes of UTF-8 (cut at a character), never empty
 * (the kernel's TASK_COMM_LEN is 16 with the NUL; an image's comm may hold any text). */
function commBytes(comm: string): Uint8Array {
  let b = Buffer.from(comm, 'utf8');
  if (b.length > 15) b = Buffer.from(b.subarray(0, 15).toString('utf8').replace(/\uFFFD$/, ''), 'utf8').subarray(0, 15);
  return b.length ? b : new Uint8Array(1);
}

/** The modes the job's terminal had (the root's external stdio, stdin first), for the terminal
 * it is restarted onto in the foreground. */
export function ttyModesLines(f: ImageFiles): string[] {
  const ext = f.files.flatMap((x) => (x.kind === 'external' && x.ttyModes ? [x] : [])).sort((a, b) => (a.stdio ?? 0) - (b.stdio ?? 0))[0];
  return ext?.ttyModes ? [ttyModesLine(ext.ttyModes)] : [];
}

/** Every open-file object and pipe, created once by the helper and inherited by all tasks. */
export function fileLines(f: ImageFiles, ctx: RestoreContext): string[] {
  // what the files are opened on: content objects, pty pairs, pipes
  const L = [...objectLines(f.objects ?? []), ...(f.ttys ?? []).map(ttyLine), ...f.pipes.map(pipeLine)];
  for (const file of f.files) {
    const line = opsOf(file.kind).plan(file, ctx);
    if (line) L.push(line);
  }
  // the owner of signal-driven I/O, set by the helper once every task and thread exists
  for (const file of f.files) if (file.fown) L.push(P.planFown({ file: file.id, type: ['tid', 'pid', 'pgrp'].indexOf(file.fown.type), pid: file.fown.pid, sig: file.fown.sig }));
  // flock and OFD locks belong to the open file: the helper takes them on its fd of it
  for (const file of f.files)
    for (const l of file.locks ?? [])
      // a flock with its taker (images since issue 17's owners) is taken by that task (below)
      if ((l.kind === 'flock' && l.task === undefined) || l.kind === 'ofd') L.push(P.planFlock({ file: file.id, ofd: l.kind === 'ofd', write: l.type === 'write', ...range(l) }));
  return L;
}

/** The files that can give a task lines of its own (taskHead): of a kind with `taskPlan`, or
 * holding locks; by id, built once per image (not once per task: a tree can hold 100,000). */
const specialOf = new WeakMap<ImageFiles, Map<number, ImageFiles['files'][number]>>();
function taskFilesOf(files: ImageFiles): Map<number, ImageFiles['files'][number]> {
  let m = specialOf.get(files);
  if (!m) specialOf.set(files, (m = new Map(files.files.filter((f) => opsOf(f.kind).taskPlan || f.locks?.length).map((f) => [f.id, f]))));
  return m;
}

/** Lines made from a part of a task that is one object with its parent's (the reader's
 * SharedParts: a forked child's mappings, limits, signal actions, credentials... are its
 * parent's objects when equal): made once per object, then the same strings for every task
 * that has it (a tree of 100 forked tasks: ~45 of each task's ~85 lines). A part's lines depend
 * on that part only (and on the image's files, one per plan). */
const linesOf = new WeakMap<object, string[]>();
function sharedLines(part: object, make: () => string[]): readonly string[] {
  let l = linesOf.get(part);
  if (!l) linesOf.set(part, (l = make()));
  return l;
}

/** (not L.push(...lines): a task may have tens of thousands of mapping lines, more than a call's arguments) */
function append(L: string[], lines: readonly string[]): void {
  for (const l of lines) L.push(l);
}

const NO_BYTES = new Uint8Array(0);

/** The number of the earlier line (task or thread, counted by `seen`'s owner) whose XSAVE area is
 * this one, or undefined, when it is recorded as line k: equal areas are one object (the
 * reader's SharedParts), so an equal one is named instead of repeated. */
function earlierArea(seen: Map<Uint8Array, number>, area: Uint8Array, k: number): number | undefined {
  const same = seen.get(area);
  if (same === undefined) seen.set(area, k);
  return same;
}

const range = (l: Parameters<typeof lockRange>[0]) => {
  const [start, len] = lockRange(l);
  return { start: start!, len: len! };
};

/** A task's section of the plan, in chunks: its thread lines (~4 KB each) THREAD_CHUNK at a
 * time, so a process of 2,000 threads is not 8 MB of strings at once. The generator is only
 * this loop: the lines are made by plain functions (V8 compiled one generator of all of them
 * again and again, ~100 ms of concurrent compiling each, its zones ~20 MB of the CLI's peak
 * RSS at 1,000 tasks, and deoptimized it ~700 times). */
export function* taskLines(p: PlanTask, t: TaskImage | undefined, files: ImageFiles, cow?: CowTask, areas?: Map<Uint8Array, number>): Generator<string[]> {
  let L = taskHead(p, t, files, cow, areas);
  if (!t) {
    yield L;
    return;
  }
  const x = xstateParts(t);
  const threadAreas = new Map<Uint8Array, number>(); // by thread line number
  for (let k = 0; k < t.threads.length; k++) {
    if (k % THREAD_CHUNK === 0) {
      yield L;
      L = [];
    }
    threadLines(t.threads[k]!, x.len, L, threadAreas, k);
  }
  taskTail(t, L);
  yield L;
}

/** A task's lines before its threads' (all of them when it has no image: a zombie, a
 * placeholder). areas: the XSAVE areas of the plan's tasks so far, by their index in the plan
 * (earlierArea; the distinct ones stay referenced until the plan is made, ~2 KB each). */
function taskHead(p: PlanTask, t: TaskImage | undefined, files: ImageFiles, cow?: CowTask, areas?: Map<Uint8Array, number>): string[] {
  const e = p.entry;
  const L = [P.planTask({ index: p.index, oldPid: p.oldPid, newPid: p.newPid, kind: KIND[p.kind], exitStatus: e?.exitStatus ?? 0, stopped: e?.state === 'stopped' })];
  if (p.newns) L.push(P.planNewns({ value: true }));
  // a process sharing its creator's fd table restores no fds: its group's first one does (sharing.ts)
  const follower = !!t?.attrs?.files;
  if (t?.attrs?.files || t?.attrs?.fs) L.push(P.planShare({ files: follower, fs: !!t.attrs.fs }));
  if (!t) return e ? [...L, P.planComm({ comm: commBytes(e.comm) })] : L;
  L.push(P.planCwd({ path: t.cwd }), ...(t.cwdObj !== undefined ? [P.planCwdobj({ obj: t.cwdObj })] : []), P.planUmask({ value: t.umask }), P.planComm({ comm: commBytes(t.comm) }), P.planExe({ path: t.exe }));
  L.push(P.planPdeathsig({ value: t.pdeathsig }), P.planLeaderexit({ value: !!t.leaderExited }));
  if (t.tidAddress) L.push(P.planTidaddr({ addr: t.tidAddress }));
  append(L, sharedLines(t.creds, () => credsLines(t.creds)));
  if (t.auxv.length) append(L, sharedLines(t.auxv, () => [P.planAuxv({ auxv: t.auxv })]));
  // the fds as rows (fd, file, cloexec): no object per fd (image/validate.ts)
  const rows = fdRows(t);
  if (!follower) append(L, sharedLines(rows, () => fdLines(rows))); // equal tables are one (inherited fds)
  // what only the task can redo with its own fd numbers, once they are all in place (files of
  // a kind with task lines, or with locks: most tables have none, and their fds are not visited)
  const special = taskFilesOf(files);
  const seen = new Set<number>();
  for (let k = 0; special.size && k < rows.length; k += 3) {
    const file = special.get(rows[k + 1]!);
    if (!file || seen.has(file.id)) continue;
    seen.add(file.id);
    if (!follower) for (const l of opsOf(file.kind).taskPlan?.(file, t, rows[k]!) ?? []) L.push(l);
    // POSIX locks belong to the process: the task takes them again itself
    for (const l of file.locks ?? []) if (l.kind === 'posix' && l.task === t.pid) L.push(P.planPlock({ fd: l.fd!, write: l.type === 'write', ...range(l) }));
    // a flock: the task that took it takes it again (the open file's lock, shown with its pid)
    for (const l of file.locks ?? []) if (l.kind === 'flock' && l.task === t.pid) L.push(P.planTflock({ fd: l.fd!, write: l.type === 'write' }));
    // a lease: the task that set it takes it again (owner of the break's signal)
    for (const l of file.locks ?? []) if (l.kind === 'lease' && l.task === t.pid) L.push(P.planLease({ fd: l.fd!, write: l.type === 'write' }));
  }
  // epoll registrations whose number no longer holds their file (also of an epoll in flight),
  // made before the task's fds are placed: never by a process that shares another's fd table
  const ghosts = epollGhostLines(files, t.pid);
  if (follower && ghosts.length)
    throw new ImageError(`process ${t.pid}: epoll registrations at numbers closed since are made by a process that shares the fd table of process ${t.attrs!.files}: not supported`);
  L.push(...ghosts);
  const packed = packedVmasOf(t); // (t.vmas would unpack them)
  append(L, sharedLines(packed ?? t.vmas, () => vmaLines(t, packed, files)));
  // memory shared with the parent and the children (image/cow.ts, native/helper/restore/restore_cow.c)
  // (by index: a destructured tuple is the iterator protocol per entry in cold code)
  if (cow) {
    for (let i = 0; i < cow.areas.length; i++) {
      const a = cow.areas[i]!;
      L.push(P.planArea({ off: a[0], len: a[1], flags: a[2], vma: a[3] }));
    }
    for (let i = 0; i < cow.moves.length; i++) {
      const m = cow.moves[i]!;
      L.push(P.planMove({ off: m[0], dst: m[1], len: m[2] }));
    }
    for (let i = 0; i < cow.zaps.length; i++) L.push(P.planZap({ start: cow.zaps[i]![0], len: cow.zaps[i]![1] * 4096 }));
  }
  for (const g of t.guards ?? []) L.push(P.planGuard({ start: g[0], len: g[1] * 4096 }));
  // the parts of the vdso group the task has (none after munmap, or with vdso=0: restore_vdso.c)
  const none = { start: 0, end: 0 };
  const [vvar = none, vclock = none, vdso = none] = vdsoParts(t);
  L.push(P.planVdso({ vvar: vvar.start, vvarEnd: vvar.end, vclock: vclock.start, vclockEnd: vclock.end, vdso: vdso.start, vdsoEnd: vdso.end }));
  const m = t.mm;
  append(
    L,
    sharedLines(m, () => [
      P.planMm({
        startCode: m.startCode, endCode: m.endCode, startData: m.startData, endData: m.endData, startBrk: m.startBrk, brk: m.brk,
        startStack: m.startStack, argStart: m.argStart, argEnd: m.argEnd, envStart: m.envStart, envEnd: m.envEnd,
      }),
    ]),
  );
  if (t.rseq) L.push(P.planRseq(t.rseq));
  L.push(P.planSigmask({ mask: t.sigmask }));
  append(L, sharedLines(t.sigactions, () => t.sigactions.map((a) => P.planSigaction(a))));
  append(L, sharedLines(t.rlimits, () => t.rlimits.map(([cur, max], r) => P.planRlimit({ resource: r, cur, max }))));
  // the XSAVE area without the zeros at its end (unused AVX-512 and AMX state: most of 11 KB)
  const x = xstateParts(t);
  const same = areas && earlierArea(areas, x.used, p.index);
  L.push(
    P.planRegs({ regs: restartFixup(t.regs) }),
    P.planXstate(same !== undefined ? { xstate: NO_BYTES, len: x.len, same } : x.used.length < x.len ? { xstate: x.used, len: x.len } : { xstate: x.used }),
  );
  return L;
}

function fdLines(rows: Int32Array): string[] {
  const L: string[] = new Array(rows.length / 3);
  for (let k = 0; k < rows.length; k += 3) L[k / 3] = P.planFd({ target: rows[k]!, file: rows[k + 1]!, cloexec: rows[k + 2] === 1 });
  return L;
}

function credsLines(c: TaskImage['creds']): string[] {
  const [ruid, euid, suid, fsuid] = c.uid as [number, number, number, number];
  const [rgid, egid, sgid, fsgid] = c.gid as [number, number, number, number];
  const L = [P.planCreds({ ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid, groups: c.groups }), P.planDumpable({ value: c.dumpable })];
  if (c.caps) {
    const k = c.caps;
    const x = (v: string) => BigInt('0x' + v);
    L.push(P.planCaps({ inheritable: x(k.inheritable), permitted: x(k.permitted), effective: x(k.effective), bounding: x(k.bounding), ambient: x(k.ambient) }));
  }
  return L;
}

// pending siginfos (128 bytes each), 8192 per line: a queue of many real-time signals spans
// several lines, each appending to it
const chunks = (b: Uint8Array) => Array.from({ length: Math.max(1, Math.ceil(b.length / (8192 * 128))) }, (_, i) => b.subarray(i * 8192 * 128, (i + 1) * 8192 * 128));

/** A thread's lines (xlen: the size of the task's XSAVE area; areas: those of the task's thread
 * lines so far, by line number; k: this one's, earlierArea). */
function threadLines(th: TaskImage['threads'][number], xlen: number, L: string[], areas: Map<Uint8Array, number>, k: number): void {
  const x = { len: xlen };
  {
    const r = th.rseq ?? { ptr: 0, len: 0, sig: 0 };
    const same = earlierArea(areas, th.xstate, k);
    // its xstate as the main thread's, without its zeros (format 1.5 images leave them out)
    const xn = same === undefined ? usedLength(th.xstate) : 0;
    const [altSp, altFlags, altSize] = th.signals.altstack;
    const [first, ...more] = chunks(th.signals.pending);
    L.push(
      P.planThread({
        tid: th.tid, regs: restartFixup(th.regs), xstate: same === undefined ? th.xstate.subarray(0, xn) : NO_BYTES, sigmask: th.sigmask, rseqPtr: r.ptr, rseqLen: r.len, rseqSig: r.sig,
        tidaddr: th.tidAddress, altSp, altFlags, altSize, pending: first!, comm: commBytes(th.comm),
        ...(same !== undefined ? { len: x.len, xsame: same } : xn < x.len ? { len: x.len } : {}),
      }),
    );
    for (const c of more) L.push(P.planThpending({ siginfos: c }));
    if (th.signals.robust) L.push(P.planThrobust({ head: th.signals.robust[0], len: th.signals.robust[1] }));
  }
}

/** A task's lines after its threads'. */
function taskTail(t: TaskImage, L: string[]): void {
  append(L, sharedLines(t.signals, () => signalsLines(t.signals)));
  append(L, sharedLines(t.itimers, () => t.itimers.map((it, w) => P.planItimer({ which: w, isec: it[0]!, iusec: it[1]!, vsec: it[2]!, vusec: it[3]! }))));
  L.push(P.planSubreaper({ value: !!t.subreaper }), P.planPersonality({ value: t.personality }), P.planNonewprivs({ value: !!t.noNewPrivs }));
  const NOTIFY: Record<string, number> = { signal: 0, none: 1, thread: 4 }; // SIGEV_*
  for (const pt of t.posixTimers)
    L.push(
      P.planPtimer({
        id: pt.id, clock: pt.clock, notify: NOTIFY[pt.notify]!, signo: pt.signo, sigval: pt.sigval, tid: pt.tid,
        isec: pt.interval[0], insec: pt.interval[1], vsec: pt.value[0], vnsec: pt.value[1], ...(pt.overrun ? { overrun: pt.overrun } : {}),
      }),
    );
  if (t.attrs) L.push(...attrsLines(t.attrs));
  L.push(...seccompLines(t));
}

function signalsLines(s: TaskImage['signals']): string[] {
  const L = s.robust ? [P.planRobust({ head: s.robust[0], len: s.robust[1] })] : [];
  const [sp, flags, size] = s.altstack;
  L.push(P.planAltstack({ sp, flags, size }), ...chunks(s.pending).map((c) => P.planPending({ siginfos: c })), ...chunks(s.shared).map((c) => P.planShpending({ siginfos: c })));
  return L;
}

const THREAD_CHUNK = 256;

/** Process and thread attributes (native/helper/restore/restore_attrs.c): one `sched` line per
 * thread (and its `affinity` line, with the CPUs of its affinity online here), one `attrs` line. */
function attrsLines(a: TaskAttrs): string[] {
  const L = a.sched.map((s) => {
    // a fair thread's own time slice goes as its runtime (restore_attrs.c)
    const [runtime, deadline, period] = s.dl ?? [s.slice ?? 0, 0, 0];
    const [umin, umax] = s.util ?? [0, 1024];
    const sched = P.planSched({ tid: s.tid, policy: s.policy, flags: s.flags, nice: s.nice, priority: s.priority, runtime, deadline, period, umin, umax, personality: s.personality });
    const cpus = s.cpus && onlineOf(s.cpus); // checkAffinity refused an empty one
    return cpus?.length ? [sched, P.planAffinity({ tid: s.tid, cpus })] : [sched];
  }).flat();
  L.push(P.planAttrs({ oom: a.oomScoreAdj, membarrier: a.membarrier, mlockall: a.mlockall, loginuid: a.loginuid, root: a.root, thp: a.thp ?? 0, stopsig: a.stopSignal ?? 0 }));
  return L;
}

/** The runs of memory contents in stream order: shared memory objects, then task pages (the
 * staged ones first, with their offsets in the staging window: image/cow.ts). */
export function runLines(files: ImageFiles, stream: StreamPart[]): string[] {
  const L: string[] = [];
  for (const o of files.objects ?? []) for (const [off, n] of o.runs) L.push(P.planObjrun({ obj: o.id, offset: off, npages: n }));
  for (const part of stream) {
    const { task, offsets, packed } = part;
    if (packed && !offsets) {
      // kept packed by the reader: its entries are the `runs` lines' (packPairs's) as they are
      if (packed.n === 1) L.push(P.planRun({ task, addr: getU64(packed.q, 0), npages: getU64(packed.q, 2) }));
      else for (let k = 0; k < packed.n; k += VMAS_LINE) L.push(P.planRuns({ task, runs: packed.bytes.subarray(16 * k, 16 * Math.min(packed.n, k + VMAS_LINE)) }));
      continue;
    }
    const runs = part.runs;
    if (offsets) {
      for (let k = 0; k < runs.length; k++) {
        const r = runs[k]!; // not destructured: cold, that is the iterator protocol per run
        L.push(P.planSrun({ task, addr: r[0], npages: r[1], off: offsets[k]! }));
      }
      continue;
    }
    // a task's runs as `runs` lines of up to VMAS_LINE (16 bytes each) instead of a `run` line each
    if (runs.length === 1) L.push(P.planRun({ task, addr: runs[0]![0], npages: runs[0]![1] }));
    else
      for (let k = 0; k < runs.length; k += VMAS_LINE) {
        L.push(P.planRuns({ task, runs: packPairs(runs, k, Math.min(VMAS_LINE, runs.length - k)) }));
      }
  }
  return L;
}
