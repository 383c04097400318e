/**
 * A task's page runs at checkpoint: the helper's pagemap scans of its mappings (`runs`
 * commands, asked for while captureTask classifies them), collected in order, and the `pages`
 * command that has the helper read and write them (native/helper/checkpoint/dump.c).
 */
import { CheckpointError } from '../errors.js';
import type { VmaImage } from '../image/types.js';
import type { Captured } from './dump-task.js';
import type { Helper } from './helper.js';
import { dumpPages, dumprunEnd, dumprunRun, dumpScanpages } from './protocol.gen.js';

/** Mappings per `runs` command (at most 1,024: protocol/schema.mjs): each goes as soon as its
 * mappings are classified, the helper scanning them while the rest are. */
export const RUNS_PER_COMMAND = 256;

function* runsChunks(scanned: VmaImage[]): Generator<VmaImage[]> {
  for (let i = 0; i < scanned.length; i += RUNS_PER_COMMAND) yield scanned.slice(i, i + RUNS_PER_COMMAND);
}

/** start, end, start, end... of the mappings from the one at `from` (at most RUNS_PER_COMMAND), as
 * the `runs` command takes them: u64 little-endian each (numbers as decimal text, 20,000 of
 * them for 10,000 mappings, cost ~2.5 ms) */
export function rangesOf(vmas: VmaImage[], from: number): Uint8Array {
  const n = Math.min(vmas.length - from, RUNS_PER_COMMAND);
  const q = new Uint32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const v = vmas[from + i]!;
    q[4 * i] = v.start % 0x100000000;
    q[4 * i + 1] = Math.floor(v.start / 0x100000000);
    q[4 * i + 2] = v.end % 0x100000000;
    q[4 * i + 3] = Math.floor(v.end / 0x100000000);
  }
  return new Uint8Array(q.buffer); // x86_64: little-endian
}

/** The page runs arrays collectRuns filled, with their length then: every run the helper's scans
 * of that task answered, in their order (held weakly: they go with their tasks). */
const collected = new WeakMap<readonly (readonly [number, number])[], number>();

/** Every mapping's page scan of a task, asked for by captureTask (answers come in order, task
 * after task: collect them in the order the tasks were captured). */
export async function collectRuns(h: Helper, c: Captured): Promise<void> {
  const { pid } = c.task;
  for (const chunk of runsChunks(c.scanned)) {
    // answers come in order: the next one is this chunk's
    const ev = await h.next('runs');
    if (ev.start !== chunk[0]!.start) throw new CheckpointError(`process ${pid}: page scan answered for ${ev.start} instead of ${chunk[0]!.start}`, { pid, phase: 'capture' });
    // the runs of the chunk's mappings, in address order, none across two mappings
    let v = 0;
    for (let k = 0; k < ev.runs.length; k++) {
      const r = ev.runs[k]!; // by index: no iterator per run (10,000 of them)
      while (v < chunk.length && chunk[v]!.end <= r[0]) v++;
      if (v === chunk.length || r[0] < chunk[v]!.start) throw new CheckpointError(`process ${pid}: page scan answered a run at ${r[0]} outside the mappings asked for`, { pid, phase: 'capture' });
      chunk[v]!.fill = true;
      c.task.pageRuns.push(r);
    }
    // guard regions (MADV_GUARD_INSTALL): no pages, installed again at restart
    if (ev.guards.length) (c.task.guards ??= []).push(...ev.guards);
  }
  collected.set(c.task.pageRuns, c.task.pageRuns.length);
}

/** The command that has the helper write a task's page records (task: its index in the image;
 * seed: the digest the records chain on, -1 the last command's). Runs that are still exactly
 * what collectRuns gathered (the same array, as long: not split by the copy-on-write layout,
 * image/cow.ts) are the helper's own scans: `scanpages` names how many there are, instead of
 * a `run` line each (10,000 lines made here and parsed there for 10,000 one-page mappings).
 * Any other runs go as lines. The same records either way. */
export function pagesLines(pid: number, task: number, seed: number, runs: readonly (readonly [number, number])[]): string[] {
  if (collected.get(runs) === runs.length) return [dumpScanpages({ pid, task, seed, runs: runs.length })];
  const lines = [dumpPages({ pid, task, seed })];
  // by index: a destructured run is the iterator protocol per run (10,000 of a task)
  for (let r = 0; r < runs.length; r++) lines.push(dumprunRun({ addr: runs[r]![0], npages: runs[r]![1] }));
  lines.push(dumprunEnd());
  return lines;
}
