/**
 * Copy-on-write sharing between a parent and its children (issue 16): what the image says about
 * it, and the order of the PAGES stream it implies (the capture is src/kernel/cow.ts).
 *
 * A page a child got from its parent by fork() and that neither wrote since is one physical
 * page in both. At checkpoint (the tree frozen) the helper compares the two page maps
 * (`shared`, native/helper/checkpoint/dump_cow.c): a page of the child present at the same
 * frame as the parent's page at the same address is *inherited*. Such pages are listed in the
 * child's TASK record (`inherited`) and not saved again: the parent's copy is the only one in
 * the image. Without CAP_SYS_ADMIN the page maps show no frame numbers: then nothing is
 * inherited and every task's pages are its own, as before.
 *
 * Only private mappings take part: anonymous (`anon`, `heap`; not the stack, which grows down)
 * and files mapped privately (their written pages are anonymous pages fork() shares too); a
 * child's mapping only when one mapping of the parent holds it whole with the same
 * MAP_NORESERVE (and the same file at the same offsets): that is the mapping fork() copied.
 *
 * At restart (native/helper/restore/restore_cow.c) a parent maps each of its mappings that a
 * child inherits from in a staging window and has its pages written there before it creates
 * its children; a child inherits the window by fork, so its pages are the parent's; its own
 * pages in such a mapping are written over them (the kernel copies the page for the child
 * alone), and the pages it did not have are dropped (`zap`). At each task's map step the window
 * ranges are moved (mremap) to their addresses. So the staged pages of a task must come in the
 * stream right after the task is created: the PAGES records hold first every task's staged runs,
 * in creation order (depth first from the root, children in pid order, then the tasks whose
 * parent is not in the image in TREE order: plan-tree.ts creates them so), then every task's
 * other runs in TASK order.
 */
import type { TaskImage, TreeEntry, VmaImage } from './types.js';
import { packedRunsOf, type PackedRuns } from './packed-task.js';
import { MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE } from './format.js';

export type Run = [number, number];

const PAGE = 4096;
/** MAP_NORESERVE among a mapping's madv bits (src/kernel/memory.ts MADV.nr) */
const MADV_NORESERVE = 1024;
/** MAP_DROPPABLE (MADV.dp): wiped on fork, never shared */
const MADV_DROPPABLE = 8192;

/** A mapping whose pages fork() shares: private anonymous memory (the stack left out), or a
 * file mapped privately (the pages written since it was mapped: a library's data, RELRO). */
export function cowEligible(v: VmaImage): boolean {
  return !v.shared && !(v.madv & MADV_DROPPABLE) && (v.kind === 'anon' || v.kind === 'heap' || v.kind === 'file');
}

/** The same file at the same offsets (a file mapping), or both anonymous. */
function sameBacking(w: VmaImage, v: VmaImage): boolean {
  if (w.kind !== 'file' && v.kind !== 'file') return true;
  return (
    w.kind === 'file' &&
    v.kind === 'file' &&
    w.path === v.path &&
    w.file?.ino === v.file?.ino &&
    w.file?.dev === v.file?.dev &&
    v.pgoff - w.pgoff === v.start - w.start
  );
}

/** The parent's mapping a child's mapping came from by fork, if there is one. */
export function forkSource(parent: TaskImage, v: VmaImage): VmaImage | undefined {
  if (!cowEligible(v)) return undefined;
  const nr = MADV_NORESERVE;
  const w = findVma(parent.vmas, v.start);
  return w && cowEligible(w) && w.fill && w.end >= v.end && (w.madv & nr) === (v.madv & nr) && sameBacking(w, v) ? w : undefined;
}

/** The mapping of a sorted list that holds addr. */
export function findVma(vmas: VmaImage[], addr: number): VmaImage | undefined {
  let lo = 0;
  let hi = vmas.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (vmas[mid]!.end <= addr) lo = mid + 1;
    else hi = mid;
  }
  const v = vmas[lo];
  return v && v.start <= addr ? v : undefined;
}

/** Each task's parent as an index into tasks (live tasks only), or -1. */
export function parents(tasks: TaskImage[], entries: TreeEntry[]): number[] {
  const index = new Map(tasks.map((t, i) => [t.pid, i]));
  const ppid = new Map(entries.map((e) => [e.pid, e.ppid]));
  return tasks.map((t) => index.get(ppid.get(t.pid) ?? -1) ?? -1);
}

/** a minus b (both sorted, non-overlapping runs), clipped to [lo, hi). */
export function subtract(a: Run[], b: Run[], lo = 0, hi = Infinity): Run[] {
  const out: Run[] = [];
  let j = 0;
  // runs walked by index (a destructured [s, n] is the iterator protocol per run in cold code)
  for (let i = 0; i < a.length; i++) {
    const s0 = a[i]![0];
    let s = Math.max(s0, lo);
    const e = Math.min(s0 + a[i]![1] * PAGE, hi);
    while (j < b.length && b[j]![0] + b[j]![1] * PAGE <= s) j++;
    for (let k = j; s < e && k < b.length && b[k]![0] < e; k++) {
      const bs = b[k]![0];
      const be = bs + b[k]![1] * PAGE;
      if (bs > s) out.push([s, (bs - s) / PAGE]);
      s = Math.max(s, be);
    }
    if (s < e) out.push([s, (e - s) / PAGE]);
  }
  return out;
}

/** a intersected with b (both sorted, non-overlapping runs). */
export function intersect(a: Run[], b: Run[]): Run[] {
  const out: Run[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const as = a[i]![0];
    const an = a[i]![1];
    const bs = b[j]![0];
    const bn = b[j]![1];
    const s = Math.max(as, bs);
    const e = Math.min(as + an * PAGE, bs + bn * PAGE);
    if (s < e) out.push([s, (e - s) / PAGE]);
    if (as + an * PAGE < bs + bn * PAGE) i++;
    else j++;
  }
  return out;
}

/** Merges two sorted, disjoint run lists into one sorted list, adjacent runs joined (one pass). */
function union(a: Run[], b: Run[]): Run[] {
  const out: Run[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const r = j >= b.length || (i < a.length && a[i]![0] <= b[j]![0]) ? a[i++]! : b[j++]!;
    const last = out[out.length - 1];
    if (last && last[0] + last[1] * PAGE >= r[0]) last[1] = Math.max(last[1], (r[0] + r[1] * PAGE - last[0]) / PAGE);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** The runs of a sorted list that overlap [lo, hi), clipped to it, from index at.i on (at.i
 * moves past the runs that end at or before lo: call with ranges in ascending order). */
function within(runs: Run[], lo: number, hi: number, at: { i: number }): Run[] {
  let j = at.i;
  while (j < runs.length && runs[j]![0] + runs[j]![1] * PAGE <= lo) j++;
  at.i = j;
  const out: Run[] = [];
  for (; j < runs.length && runs[j]![0] < hi; j++) {
    const s = Math.max(runs[j]![0], lo);
    const e = Math.min(runs[j]![0] + runs[j]![1] * PAGE, hi);
    if (s < e) out.push([s, (e - s) / PAGE]);
  }
  return out;
}

/** What a restart does for one task (plan lines `area`, `move`, `zap`; see plan.h). */
export interface CowTask {
  /** [window offset, length, mmap flags, mapping]: mapped by the task before it creates its
   * children; mapping: the address of its private file mapping whose file the area maps, 0 for
   * private anonymous memory */
  areas: [number, number, number, number][];
  /** [window offset, destination, length]: window ranges that become its mappings */
  moves: [number, number, number][];
  /** pages of moved mappings it did not have */
  zaps: Run[];
}

/** One part of the PAGES stream: runs of one task; staged ones carry their window offsets. */
export interface StreamPart {
  task: number;
  runs: Run[];
  offsets?: number[];
  /** the runs as the reader kept them packed (packed-task.ts), until `runs` is read */
  packed?: PackedRuns;
}

export interface CowLayout {
  tasks: Map<number, CowTask>;
  stream: StreamPart[];
}

/** Creation order of the live tasks (indices into tasks): depth first from each task whose
 * parent is not in the image (TREE order), children in pid order — plan-tree.ts's order. */
export function creationOrder(tasks: TaskImage[], entries: TreeEntry[]): number[] {
  const index = new Map(tasks.map((t, i) => [t.pid, i]));
  const inTree = new Set(entries.map((e) => e.pid));
  const children = new Map<number, number[]>();
  for (const e of entries) {
    if (!inTree.has(e.ppid) || e === entries[0]) continue;
    const l = children.get(e.ppid);
    if (l) l.push(e.pid);
    else children.set(e.ppid, [e.pid]);
  }
  const order: number[] = [];
  const visit = (pid: number) => {
    const i = index.get(pid);
    if (i !== undefined) order.push(i);
    for (const c of (children.get(pid) ?? []).sort((a, b) => a - b)) visit(c);
  };
  for (const e of entries) if (e === entries[0] || !inTree.has(e.ppid)) visit(e.pid);
  return order;
}

/** A task's runs as they are; packed ones stay packed (the restart plan's `runs` lines take
 * them as they are), made into pairs only if `runs` is read. */
function plainPart(t: TaskImage, task: number): StreamPart {
  if (!packedRunsOf(t)) return { task, runs: t.pageRuns };
  return {
    task,
    get runs() {
      return t.pageRuns;
    },
    get packed() {
      return packedRunsOf(t); // none once the pairs are made
    },
  };
}

/** The staging layout and the order of the PAGES stream of a tree (same at checkpoint and restart). */
export function cowLayout(tasks: TaskImage[], entries: TreeEntry[]): CowLayout {
  const parent = parents(tasks, entries);
  const plain = (): CowLayout => ({ tasks: new Map(), stream: tasks.map((t, task) => plainPart(t, task)) });
  if (!tasks.some((t) => t.inherited?.length)) return plain();
  // which mappings are staged (a child inherits from them) and where each child's came from
  const need = tasks.map(() => new Set<number>());
  const source = tasks.map(() => new Map<number, VmaImage>()); // [task] start -> the parent's mapping
  tasks.forEach((t, i) => {
    const inh = t.inherited ?? [];
    for (let k = 0; k < inh.length; k++) {
      const v = findVma(t.vmas, inh[k]![0])!;
      const w = forkSource(tasks[parent[i]!]!, v)!;
      source[i]!.set(v.start, w);
      need[parent[i]!]!.add(w.start);
    }
  });
  const win = tasks.map(() => new Map<number, number>()); // [task] start -> window offset
  const layout: CowLayout = { tasks: new Map(), stream: [] };
  const rest: Run[][] = tasks.map((t) => t.pageRuns);
  let cursor = PAGE; // a guard page at the start, one between areas
  for (const i of creationOrder(tasks, entries)) {
    const t = tasks[i]!;
    const ct: CowTask = { areas: [], moves: [], zaps: [] };
    const staged: StreamPart = { task: i, runs: [], offsets: [] };
    const mineAt = { i: 0 };
    const inhAt = { i: 0 };
    for (const v of t.vmas) {
      const w = source[i]!.get(v.start);
      const own = need[i]!.has(v.start);
      if (!w && !own) continue;
      const len = v.end - v.start;
      let off: number;
      if (w) off = win[parent[i]!]!.get(w.start)! + (v.start - w.start);
      else {
        off = cursor;
        const file = v.kind === 'file';
        ct.areas.push([off, len, MAP_PRIVATE | (file ? 0 : MAP_ANONYMOUS) | (v.madv & MADV_NORESERVE ? MAP_NORESERVE : 0), file ? v.start : 0]);
        cursor += len + PAGE;
      }
      win[i]!.set(v.start, off);
      ct.moves.push([off, v.start, len]);
      // the task's own runs in the mapping (both lists in address order: one pass over each)
      const mine = within(t.pageRuns, v.start, v.end, mineAt);
      if (own)
        for (const r of mine) {
          staged.runs.push(r);
          staged.offsets!.push(off + r[0] - v.start);
        }
      if (w) for (const z of subtract([[v.start, len / PAGE]], union(mine, within(t.inherited ?? [], v.start, v.end, inhAt)))) ct.zaps.push(z);
    }
    if (ct.moves.length) layout.tasks.set(i, ct);
    if (staged.runs.length) {
      layout.stream.push(staged);
      rest[i] = subtract(rest[i]!, staged.runs);
    }
  }
  rest.forEach((runs, task) => layout.stream.push({ task, runs }));
  return layout;
}

/**
 * Validation of the inherited runs of a tree (reader): inside mappings that can share, whose
 * parent is a live task of the image holding them whole; disjoint from the task's own runs.
 * Returns what is wrong, or undefined.
 */
export function inheritedProblem(tasks: TaskImage[], entries: TreeEntry[]): string | undefined {
  const parent = parents(tasks, entries);
  for (const [i, t] of tasks.entries()) {
    if (!t.inherited?.length) continue;
    const p = parent[i]!;
    if (p < 0) return `process ${t.pid}: pages inherited from a parent that is not a live task of the image`;
    for (let k = 0; k < t.inherited.length; k++) {
      const a = t.inherited[k]![0];
      const n = t.inherited[k]![1];
      const v = findVma(t.vmas, a);
      if (!v || a + n * PAGE > v.end || !forkSource(tasks[p]!, v))
        return `process ${t.pid}: inherited pages 0x${a.toString(16)}+${n} lie outside a mapping its parent's was forked from`;
    }
    if (intersect(t.inherited, t.pageRuns).length) return `process ${t.pid}: inherited pages are also saved as its own`;
  }
  return undefined;
}
