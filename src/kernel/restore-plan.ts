/** Turns the image plus a tree plan into the helper's restore plan lines (native/helper/restore/plan.h). */
import type { ImageFiles, TaskAttrs, TaskImage } from '../image/types.js';
import type { PlanTask } from '../orchestrator/plan-tree.js';
import { pipeLine } from './fds/pipe.js';
import { settingsWords, ttyLine } from './fds/pty.js';
import { INET_OPTS, OPT_UNSET } from './fds/inet.js';
import { opsOf, type RestoreContext } from './fds/registry.js';
import { hex } from './helper.js';
import { lockRange } from './locks.js';
import { MADV } from './memory.js';
import { objectLines } from './objects.js';
import { restartFixup } from './syscall-restart.js';

const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const MAP_GROWSDOWN = 0x100;
const MAP_NORESERVE = 0x4000;
const KIND = { task: 0, zombie: 1, placeholder: 2, init: 3 } as const;

/** hex() of paths, which repeat across a tree's mappings (the same libraries in every task). */
const pathHex = new Map<string, string>();
function hexPath(p: string): string {
  let h = pathHex.get(p);
  if (h === undefined) {
    if (pathHex.size > 4096) pathHex.clear();
    pathHex.set(p, (h = hex(p)));
  }
  return h;
}

/** A comm as the helper takes it: at most 15 bytes of UTF-8 (cut at a character), never empty
 * (the kernel's TASK_COMM_LEN is 16 with the NUL; an image's comm may hold any text). */
function commHex(comm: string): string {
  let b = Buffer.from(comm, 'utf8');
  if (b.length > 15) b = Buffer.from(b.subarray(0, 15).toString('utf8').replace(/\uFFFD$/, ''), 'utf8').subarray(0, 15);
  return b.length ? b.toString('hex') : '00';
}

/** The modes the job's terminal had (the root's external stdio, stdin first), for the terminal
 * it is restarted onto in the foreground. */
export function ttyModesLines(f: ImageFiles): string[] {
  const ext = f.files.flatMap((x) => (x.kind === 'external' && x.ttyModes ? [x] : [])).sort((a, b) => (a.stdio ?? 0) - (b.stdio ?? 0))[0];
  return ext?.ttyModes ? [`ttymodes ${settingsWords(ext.ttyModes.termios, ext.ttyModes.winsize)}`] : [];
}

/** Every open-file object and pipe, created once by the helper and inherited by all tasks. */
export function fileLines(f: ImageFiles, ctx: RestoreContext): string[] {
  // what the files are opened on: content objects, pty pairs, pipes
  const L = [...objectLines(f.objects ?? []), ...(f.ttys ?? []).map(ttyLine), ...f.pipes.map(pipeLine)];
  for (const file of f.files) {
    const line = opsOf(file.kind).plan(file, ctx);
    if (line) L.push(line);
  }
  // socket-level options of unix sockets (the TCP/UDP ones are in their file line)
  for (const file of f.files) if (file.kind === 'unix' && file.unix.opts) L.push(`sockopts ${file.id} ${INET_OPTS.map((k) => file.unix.opts![k] ?? OPT_UNSET).join(',')}`);
  // the owner of signal-driven I/O, set by the helper once every task and thread exists
  for (const file of f.files) if (file.fown) L.push(`fown ${file.id} ${['tid', 'pid', 'pgrp'].indexOf(file.fown.type)} ${file.fown.pid} ${file.fown.sig}`);
  // flock and OFD locks belong to the open file: the helper takes them on its fd of it
  for (const file of f.files)
    for (const l of file.locks ?? [])
      if (l.kind !== 'posix') L.push(`flock ${file.id} ${l.kind === 'ofd' ? 1 : 0} ${l.type === 'write' ? 1 : 0} ${lockRange(l).join(' ')}`);
  return L;
}

/** The files by id, built once per image (not once per task: a tree can hold 100,000 tasks). */
const byIdOf = new WeakMap<ImageFiles, Map<number, ImageFiles['files'][number]>>();
function filesById(files: ImageFiles): Map<number, ImageFiles['files'][number]> {
  let m = byIdOf.get(files);
  if (!m) byIdOf.set(files, (m = new Map(files.files.map((f) => [f.id, f]))));
  return m;
}

export function taskLines(p: PlanTask, t: TaskImage | undefined, files: ImageFiles): string[] {
  const e = p.entry;
  const L = [`task ${p.index} ${p.oldPid} ${p.newPid} ${KIND[p.kind]} ${e?.exitStatus ?? 0} ${e?.state === 'stopped' ? 1 : 0}`];
  if (p.newns) L.push('newns 1');
  if (!t) return e ? [...L, `comm ${commHex(e.comm)}`] : L;
  L.push(`cwd ${hexPath(t.cwd)}`, ...(t.cwdObj !== undefined ? [`cwdobj ${t.cwdObj}`] : []), `umask ${t.umask}`, `comm ${commHex(t.comm)}`, `exe ${hexPath(t.exe)}`);
  L.push(`pdeathsig ${t.pdeathsig}`, `leaderexit ${t.leaderExited ? 1 : 0}`);
  if (t.tidAddress) L.push(`tidaddr ${t.tidAddress}`);
  const c = t.creds;
  L.push(`creds ${[...c.uid, ...c.gid].join(' ')} ${c.groups.length ? c.groups.join(',') : '-'}`, `dumpable ${c.dumpable}`);
  if (c.caps) {
    const k = c.caps;
    L.push(`caps ${[k.inheritable, k.permitted, k.effective, k.bounding, k.ambient].map((x) => '0x' + x).join(' ')}`);
  }
  if (t.auxv.length) L.push(`auxv ${hex(t.auxv)}`);
  for (const fd of t.fds) L.push(`fd ${fd.fd} ${fd.file} ${fd.cloexec ? 1 : 0}`);
  // what only the task can redo with its own fd numbers, once they are all in place
  const byId = filesById(files);
  const seen = new Set<number>();
  for (const fd of t.fds) {
    const file = byId.get(fd.file)!;
    if (seen.has(file.id)) continue;
    seen.add(file.id);
    for (const l of opsOf(file.kind).taskPlan?.(file, t, fd.fd) ?? []) L.push(l);
    // POSIX locks belong to the process: the task takes them again itself
    for (const l of file.locks ?? []) if (l.kind === 'posix' && l.task === t.pid) L.push(`plock ${l.fd} ${l.type === 'write' ? 1 : 0} ${lockRange(l).join(' ')}`);
  }
  for (const v of t.vmas) {
    if (v.shm) {
      L.push(`shmat ${v.start} ${v.end} ${v.prot} ${v.shm.id} ${v.shm.flags} ${v.madv}`);
      continue;
    }
    let flags = v.shared ? MAP_SHARED : MAP_PRIVATE;
    if (v.kind !== 'file' && v.kind !== 'object') flags |= MAP_ANONYMOUS;
    if (v.kind === 'stack') flags |= MAP_GROWSDOWN;
    if (v.madv & MADV.nr!) flags |= MAP_NORESERVE;
    const where = v.kind === 'object' ? `- ${v.obj}` : v.path ? hexPath(v.path) : '-';
    L.push(`vma ${v.start} ${v.end} ${v.prot} ${flags} ${v.pgoff} ${v.fill ? 1 : 0} ${v.madv} ${where}`);
  }
  const vvar = t.specials.find((s) => s.name === '[vvar]')!;
  const vdso = t.specials.find((s) => s.name === '[vdso]')!;
  L.push(`vdso ${vvar.start} ${vdso.start}`);
  const m = t.mm;
  L.push(`mm ${[m.startCode, m.endCode, m.startData, m.endData, m.startBrk, m.brk, m.startStack, m.argStart, m.argEnd, m.envStart, m.envEnd].join(' ')}`);
  if (t.rseq) L.push(`rseq ${t.rseq.ptr} ${t.rseq.len} ${t.rseq.sig}`);
  L.push(`sigmask ${t.sigmask}`);
  for (const a of t.sigactions) L.push(`sigaction ${a.sig} ${a.handler} ${a.flags} ${a.restorer} ${a.mask}`);
  t.rlimits.forEach(([cur, max], r) => L.push(`rlimit ${r} ${cur} ${max}`));
  L.push(`regs ${hex(restartFixup(t.regs))}`, `xstate ${hex(t.xstate)}`);
  // pending siginfos (128 bytes each), 8192 per line: a queue of many real-time signals spans
  // several lines, each appending to it
  const chunks = (b: Uint8Array) => Array.from({ length: Math.max(1, Math.ceil(b.length / (8192 * 128))) }, (_, i) => b.subarray(i * 8192 * 128, (i + 1) * 8192 * 128));
  const sigs = (b: Uint8Array) => (b.length ? hex(b) : '-');
  for (const th of t.threads) {
    const r = th.rseq ?? { ptr: 0, len: 0, sig: 0 };
    const a = th.signals.altstack;
    const [first, ...more] = chunks(th.signals.pending);
    L.push(`thread ${th.tid} ${hex(restartFixup(th.regs))} ${hex(th.xstate)} ${th.sigmask} ${r.ptr} ${r.len} ${r.sig} ${th.tidAddress} ${a[0]} ${a[1]} ${a[2]} ${sigs(first!)} ${commHex(th.comm)}`);
    for (const c of more) L.push(`thpending ${sigs(c)}`);
    if (th.signals.robust) L.push(`throbust ${th.signals.robust.join(' ')}`);
  }
  if (t.signals.robust) L.push(`robust ${t.signals.robust.join(' ')}`);
  const a = t.signals.altstack;
  L.push(`altstack ${a[0]} ${a[1]} ${a[2]}`, ...chunks(t.signals.pending).map((c) => `pending ${sigs(c)}`), ...chunks(t.signals.shared).map((c) => `shpending ${sigs(c)}`));
  t.itimers.forEach((it, w) => L.push(`itimer ${w} ${it.join(' ')}`));
  L.push(`subreaper ${t.subreaper ? 1 : 0}`, `personality ${t.personality}`, `nonewprivs ${t.noNewPrivs ? 1 : 0}`);
  const NOTIFY: Record<string, number> = { signal: 0, none: 1, thread: 4 }; // SIGEV_*
  for (const pt of t.posixTimers)
    L.push(`ptimer ${pt.id} ${pt.clock} ${NOTIFY[pt.notify]} ${pt.signo} ${pt.sigval} ${pt.tid} ${pt.interval.join(' ')} ${pt.value.join(' ')}`);
  if (t.attrs) L.push(...attrsLines(t.attrs));
  return L;
}

/** Process and thread attributes (native/helper/restore/restore_attrs.c): one `sched` line per
 * thread, one `attrs` line. */
function attrsLines(a: TaskAttrs): string[] {
  const L = a.sched.map((s) => `sched ${s.tid} ${s.policy} ${s.flags} ${s.nice} ${s.priority} ${(s.dl ?? [0, 0, 0]).join(' ')} ${(s.util ?? [0, 1024]).join(' ')} ${s.personality}`);
  L.push(`attrs ${a.oomScoreAdj} ${a.membarrier} ${a.mlockall} ${a.loginuid} ${a.root !== undefined ? hexPath(a.root) : '-'}`);
  return L;
}

/** The runs of memory contents in stream order: shared memory objects, then task pages. */
export function runLines(files: ImageFiles, tasks: TaskImage[]): string[] {
  const L: string[] = [];
  for (const o of files.objects ?? []) for (const [off, n] of o.runs) L.push(`objrun ${o.id} ${off} ${n}`);
  tasks.forEach((t, i) => {
    for (const [addr, n] of t.pageRuns) L.push(`run ${i} ${addr} ${n}`);
  });
  return L;
}
