/** The task's /proc files as the checkpoint's helper read them for dump-task.ts. */
import { readLink, readProcText } from './proc.js';

/** The /proc files of the task (as its thread procPid sees them) that the helper reads at the
 * end of its `state` (native/helper/checkpoint/dump_procfs.c, same order): one batch in C, on
 * the helper's side, rather than an open, read and close from JavaScript each. */
const PROC_FILES = ['stat', 'status', 'smaps', 'auxv', 'personality', 'oom_score_adj', 'loginuid', 'timers', 'cgroup', 'exe', 'cwd', 'root', 'ns/cgroup'] as const;
export type ProcFile = (typeof PROC_FILES)[number];
const LINKS = new Set<ProcFile>(['exe', 'cwd', 'root', 'ns/cgroup']);

/** The files as the helper read them (frame: the bytes after the registers); text() reads one
 * here instead when the helper could not (as before: the same error when it fails again),
 * bytes() is then undefined. */
export function procFiles(proc: number, lens: number[] | undefined, frame: Buffer): { text: (f: ProcFile) => string; bytes: (f: ProcFile) => Buffer | undefined } {
  const at = new Map<ProcFile, [number, number]>();
  let o = 0;
  if (lens && lens.length === PROC_FILES.length)
    PROC_FILES.forEach((f, i) => {
      const n = lens[i]!;
      if (!Number.isSafeInteger(n) || n < 0 || o + n > frame.length) return;
      at.set(f, [o, (o += n)]);
    });
  const bytes = (f: ProcFile): Buffer | undefined => {
    const r = at.get(f);
    return r && frame.subarray(r[0], r[1]);
  };
  const text = (f: ProcFile): string => {
    const r = at.get(f);
    if (!r) return LINKS.has(f) ? readLink(`/proc/${proc}/${f}`) : readProcText(`/proc/${proc}/${f}`);
    return frame.toString(LINKS.has(f) ? 'utf8' : 'latin1', r[0], r[1]);
  };
  return { text, bytes };
}
