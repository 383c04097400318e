/**
 * Which format minor an image needs (src/image/format.ts, docs/image-format.md): the oldest one
 * whose readers restore everything it holds, so that an image readable by older ucr versions
 * stays readable by them, and one they would restore wrong is refused by them (a reader refuses
 * a newer minor) instead of silently dropping what it does not know.
 */
import { FORMAT_MINOR_FMAP, FORMAT_MINOR_SLICE, FORMAT_MINOR_AIO, FORMAT_MINOR_FDP, FORMAT_MINOR_SAME, FORMAT_MINOR_CGROUP, FORMAT_MINOR_VDSO, FORMAT_MINOR_16, FORMAT_MINOR_VMAP, FORMAT_MINOR_XSTATE, FORMAT_MINOR_COW, FORMAT_MINOR_LZ4, FORMAT_MINOR_PLAIN } from './format.js';
import type { ImageFiles } from './types-files.js';
import type { SpecialVma, TaskImage } from './types.js';
import { packsFds } from './fd-pack.js';
import { packsVmas } from './vma-pack.js';
import { packsFileVmas } from './file-vma-pack.js';

/** Something added in 1.4 (issues 16 and 17) that a 1.3 reader would drop or refuse. What it
 * may drop harmlessly (it restores as before: CPU affinity, timer overruns, content objects'
 * times) does not count. */
function uses14(tasks: TaskImage[], files: ImageFiles): boolean {
  const taskNew = (t: TaskImage) =>
    !!t.guards?.length ||
    !!t.seccomp ||
    t.attrs?.files !== undefined ||
    t.attrs?.fs !== undefined ||
    t.attrs?.thp !== undefined ||
    t.attrs?.stopSignal !== undefined ||
    t.vmas.some((v) => v.kind === 'aio' || v.kind === 'ring');
  if (tasks.some(taskNew)) return true;
  for (const f of files.files) {
    if (f.kind === 'devtty' || f.kind === 'fanotify' || f.kind === 'rawsock') return true;
    if (f.locks?.some((l) => l.kind === 'lease')) return true;
    if (f.kind === 'unix' && (f.unix.rights?.some((r) => r.length) || f.unix.dir !== undefined)) return true;
    if (f.kind === 'unix' && f.unix.external?.name) return true; // --external-unix=reconnect
    if (f.kind === 'inet' && f.inet.lite) return true; // UDP-Lite (a 1.3 reader: plain UDP)
    if (f.kind === 'inet' && (f.inet.device !== undefined || f.inet.shutdown !== undefined || f.inet.tcp?.finUnsent !== undefined || ['fin-wait1', 'closing', 'last-ack'].includes(f.inet.state))) return true;
    if (f.kind === 'device' && f.node) return true;
    if (f.kind === 'regular' && f.symlink !== undefined) return true;
    if (f.kind === 'inotify' && f.inotify?.some((w) => w.file !== undefined)) return true;
  }
  return !!files.ttys?.some((t) => t.queued || t.owner);
}

/** The task's [vvar], [vvar_vclock] and [vdso] (undefined: the task has not that part). */
export function vdsoParts(t: TaskImage): [SpecialVma | undefined, SpecialVma | undefined, SpecialVma | undefined] {
  const at = (n: string) => t.specials.find((s) => s.name === n);
  return [at('[vvar]'), at('[vvar_vclock]'), at('[vdso]')];
}

/** Whether the task's [vvar][vvar_vclock][vdso] group is other than whole, in the kernel's order
 * and touching ([vvar_vclock] only on kernels that have it): a part unmapped or moved. */
export function vdsoIrregular(t: TaskImage): boolean {
  const [vvar, clock, vdso] = vdsoParts(t);
  if (!vvar || !vdso) return true;
  return clock ? vvar.end !== clock.start || clock.end !== vdso.start : vvar.end !== vdso.start;
}

/** The minor to write: 1.10 when a task's file mappings are packed (file-vma-pack.ts), 1.9 when a thread has its own time slice, 1.8 when a task's fd table is packed (fd-pack.ts) or its record takes parts from its parent's (sameParts: same-parts.ts; packedFds: a table of 64 fds or more, by default from the tasks' fds), 1.7 when a task's vdso group lacks parts or has them apart (vdsoIrregular), an AIO ring carries its head and tail, or the tree's cgroups are recorded (cgroups: a task was in a cgroup
 * other than the checkpointer's own; image/cgroups.ts), 1.6 when a task's mappings are packed (vma-pack.ts), 1.5 when a thread's xstate leaves out the zeros at its end (shorter than
 * the HEADER's cpu.xstateSize: a 1.4 reader would refuse it), 1.4 for what only 1.4 readers
 * restore, 1.3 for copy-on-write sharing (inherited pages), 1.2 for LZ4 records, else 1.1. */
export function formatMinor(tasks: TaskImage[], files: ImageFiles, compressed: boolean, cgroups = false, sameParts = false, packedFds = tasks.some(packsFds)): number {
  if (tasks.some(packsFileVmas)) return FORMAT_MINOR_FMAP;
  if (tasks.some((t) => t.attrs?.sched.some((s) => s.slice !== undefined))) return FORMAT_MINOR_SLICE;
  if (sameParts) return FORMAT_MINOR_SAME;
  if (packedFds) return FORMAT_MINOR_FDP;
  if (cgroups) return FORMAT_MINOR_CGROUP;
  if (tasks.some(vdsoIrregular)) return FORMAT_MINOR_VDSO;
  if (tasks.some((t) => t.vmas.some((v) => v.aio))) return FORMAT_MINOR_AIO; // a 1.6 reader: head and tail 0, the events lost
  if (tasks.some(packsVmas)) return FORMAT_MINOR_VMAP;
  if (tasks.some((t) => t.threads.some((th) => th.xstate.length < t.xstate.length))) return FORMAT_MINOR_XSTATE;
  if (uses14(tasks, files)) return FORMAT_MINOR_16;
  if (tasks.some((t) => t.inherited?.length)) return FORMAT_MINOR_COW;
  return compressed ? FORMAT_MINOR_LZ4 : FORMAT_MINOR_PLAIN;
}
