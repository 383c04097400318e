/**
 * Format 1.8: a TASK record leaves out the parts equal to its parent task's (TASK `same`: their
 * names), which the reader takes from the parent as it read and checked them. A forked child's
 * mappings, page runs, limits, signal handlers, mm fields, credentials, special mappings, timers
 * and auxv are its parent's: a tree of 100 tasks wrote them 100 times, and the restart decoded,
 * checked and compared them with the parent's 100 times (cold, ~0.2 ms a task: most of its
 * metadata reading).
 *
 * `same` names parts of SAME_PARTS, each once, none also in the record; the parent is the TREE
 * entry's ppid, a task whose record comes before (a parent comes before its children in TREE
 * order). `pageRuns` only with `vmas`, and neither when the parent's or the task's mappings are
 * packed (vma-pack.ts): the runs are checked against the mappings they come with.
 */
import type { CborValue } from './cbor.js';
import type { Where } from './check.js';
import { packedVmasOf } from './packed-task.js';
import { sameValue } from './task-compact.js';
import type { TaskImage } from './types.js';
import { packsVmas } from './vma-pack.js';

export const SAME_PARTS = ['vmas', 'pageRuns', 'rlimits', 'mm', 'creds', 'specials', 'sigactions', 'itimers', 'auxv'] as const;
export type SamePart = (typeof SAME_PARTS)[number];

/** The parts of t equal to its parent's that its record leaves out (none without a parent). */
export function sameParts(t: TaskImage, parent: TaskImage | undefined): SamePart[] {
  if (!parent) return [];
  const same: SamePart[] = [];
  const maps = !packsVmas(t) && !packsVmas(parent);
  for (const k of SAME_PARTS) {
    if ((k === 'vmas' || k === 'pageRuns') && !maps) continue;
    if (k === 'pageRuns' && same[0] !== 'vmas') continue;
    if (sameValue(parent[k], t[k])) same.push(k);
  }
  return same;
}

/** The TASK record as written: the task itself, or a plain copy without the parts named and
 * with `same` naming them (at the end). */
export function withoutSame(t: TaskImage, same: readonly SamePart[]): TaskImage {
  if (!same.length) return t;
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(t)) if (!(same as readonly string[]).includes(k)) o[k] = (t as unknown as Record<string, unknown>)[k];
  o.same = [...same];
  return o as unknown as TaskImage;
}

/** The parts a TASK record takes from its parent (empty: none), checked: known names, each once,
 * not in the record, a parent read before it, runs only with mappings, none of its or its
 * parent's mappings packed. */
export function checkSame(o: Record<string, CborValue>, w: Where, parent: TaskImage | undefined, ppid: number): ReadonlySet<SamePart> {
  const v = o.same;
  if (v === undefined) return NONE;
  if (!Array.isArray(v) || v.length > SAME_PARTS.length) return w.fail(`expected a list of at most ${SAME_PARTS.length} part names`);
  if (!parent) w.fail(`parts the same as its parent's, but its parent ${ppid} has no task record before it`);
  const same = new Set<SamePart>();
  for (let i = 0; i < v.length; i++) {
    const k = v[i];
    if (typeof k !== 'string' || !(SAME_PARTS as readonly string[]).includes(k)) w.at(i).fail(`not a part a task takes from its parent: ${typeof k === 'string' ? JSON.stringify(k.slice(0, 40)) : 'not text'}`);
    if (same.has(k as SamePart)) w.at(i).fail(`${k} twice`);
    if (o[k as string] !== undefined) w.at(i).fail(`${k} is also in the record`);
    same.add(k as SamePart);
  }
  if (same.has('pageRuns') && !same.has('vmas')) w.fail('pageRuns without vmas');
  if ((same.has('vmas') || same.has('pageRuns')) && (o.vmap !== undefined || o.runp !== undefined || o.fmap !== undefined || o.ftab !== undefined || packedVmasOf(parent!)))
    w.fail('mappings the same as its parent\'s with packed mappings');
  return same;
}

const NONE: ReadonlySet<SamePart> = new Set();
