/**
 * Seccomp (docs/restart.md, "Seccomp"): what the helper read of every thread under seccomp
 * (native/helper/checkpoint/dump_seccomp.c) becomes the task's SeccompImage, each distinct
 * filter once. Filters are the same when they hold the same program and flags and were
 * installed on the same filter: a chain a child inherited from its parent, or threads got with
 * SECCOMP_FILTER_FLAG_TSYNC, is saved once (the kernel shows no identity of a filter, so equal
 * chains are taken as one). The restart's plan lines: every filter once, before the tasks
 * (`scfilter`), and each thread's mode and newest filter (`seccomp`).
 */
import { UnsupportedError } from '../errors.js';
import type { SeccompImage, TaskImage } from '../image/types.js';
import { SECCOMP_FLAG_LOG, bpfProblem } from '../image/validate-seccomp.js';
import * as P from './protocol.gen.js';

/** The helper's `seccomp` event: per thread [tid, mode, [[flags, BPF hex], ...] oldest first] */
export type SeccompThreads = [number, number, [number, string][]][];

/** One task's seccomp state, its filters numbered from 0 (shareSeccomp numbers them across the
 * image); what cannot be restored is refused with one line. */
export function seccompOf(pid: number, threads: SeccompThreads): SeccompImage {
  const ids = new Map<string, number>();
  const s: SeccompImage = { filters: [], threads: [] };
  for (const [tid, mode, chain] of threads) {
    if (mode !== 1 && mode !== 2) throw new UnsupportedError(`process ${pid}: thread ${tid} is in seccomp mode ${mode}, which ucr does not know`, { pid });
    let prev = -1;
    // oldest first: each filter was installed on the one before it
    for (const [flags, hex] of chain) {
      const prog = Buffer.from(hex, 'hex');
      const bad = flags & ~SECCOMP_FLAG_LOG ? `has flags 0x${flags.toString(16)} beyond SECCOMP_FILTER_FLAG_LOG` : bpfProblem(prog);
      if (bad) throw new UnsupportedError(`process ${pid}: thread ${tid}: a seccomp filter ${bad.replace(/^instruction \d+: /, '')}: it cannot be restored`, { pid });
      const key = `${prev}:${flags}:${hex}`;
      let id = ids.get(key);
      if (id === undefined) {
        ids.set(key, (id = s.filters.length));
        s.filters.push({ id, prev, flags, prog });
      }
      prev = id;
    }
    s.threads.push([tid, mode, mode === 2 ? prev : -1]);
  }
  return s;
}

/** Numbers the filters of every task across the image (tasks in image order) and keeps each
 * in the first task that holds it: a child's chain inherited from its parent refers to the
 * parent's filters. */
export function shareSeccomp(tasks: TaskImage[]): void {
  const ids = new Map<string, number>();
  let next = 0;
  for (const t of tasks) {
    if (!t.seccomp) continue;
    const local: number[] = [];
    const mine: SeccompImage['filters'] = [];
    for (const f of t.seccomp.filters) {
      const prev = f.prev >= 0 ? local[f.prev]! : -1;
      const key = `${prev}:${f.flags}:${Buffer.from(f.prog).toString('hex')}`;
      let id = ids.get(key);
      if (id === undefined) {
        ids.set(key, (id = next++));
        mine.push({ ...f, id, prev });
      }
      local.push(id);
    }
    t.seccomp = { filters: mine, threads: t.seccomp.threads.map(([tid, mode, f]) => [tid, mode, f >= 0 ? local[f]! : -1]) };
  }
}

/** Every filter of the image once, in id order (each after the one it was installed on). */
export function seccompFilterLines(tasks: TaskImage[]): string[] {
  return tasks.flatMap((t) => (t.seccomp?.filters ?? []).map((f) => P.planScfilter({ id: f.id, prev: f.prev, flags: f.flags, prog: f.prog })));
}

/** A task's threads under seccomp (after its thread lines). */
export function seccompLines(t: TaskImage): string[] {
  return (t.seccomp?.threads ?? []).map(([tid, mode, filter]) => P.planSeccomp({ tid, mode, filter }));
}
