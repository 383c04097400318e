/** Turns one TaskImage into the helper's restore plan lines (native/helper/plan.h). */
import type { TaskImage } from '../image/types.js';
import { opsOf, type RestoreContext } from './fds/registry.js';
import { hex } from './helper.js';
import { restartFixup } from './syscall-restart.js';

const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const MAP_GROWSDOWN = 0x100;

export interface PlanOptions {
  pidWaitMs: number;
  seed: number;
  taskIndex: number;
}

export function planLines(t: TaskImage, ctx: RestoreContext, opt: PlanOptions): string[] {
  const L: string[] = [];
  L.push(`task ${t.pid}`, `pidwait ${opt.pidWaitMs}`, `seed ${opt.seed}`);
  L.push(`cwd ${hex(t.cwd)}`, `umask ${t.umask}`, `comm ${hex(t.comm.slice(0, 15))}`, `exe ${hex(t.exe)}`);
  L.push(`pdeathsig ${t.pdeathsig}`);
  if (t.auxv.length) L.push(`auxv ${hex(t.auxv)}`);
  const files = new Map(t.files.map((f) => [f.id, f]));
  for (const fd of t.fds) {
    const file = files.get(fd.file)!;
    L.push(opsOf(file.kind).plan(file, fd, ctx));
  }
  for (const v of t.vmas) {
    let flags = v.shared ? MAP_SHARED : MAP_PRIVATE;
    if (v.kind !== 'file') flags |= MAP_ANONYMOUS;
    if (v.kind === 'stack') flags |= MAP_GROWSDOWN;
    L.push(`vma ${v.start} ${v.end} ${v.prot} ${flags} ${v.pgoff} ${v.fill ? 1 : 0} ${v.madv} ${v.path ? hex(v.path) : '-'}`);
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
  for (const [addr, n] of t.pageRuns) L.push(`run ${opt.taskIndex} ${addr} ${n}`);
  return L;
}
