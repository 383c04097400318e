/**
 * A task read with its mappings packed (format 1.6: TASK `vmap` and `runp`, vma-pack.ts) keeps
 * them packed until something reads its `vmas` or `pageRuns`: getters that make the usual
 * objects then, once (unpackVmas and unpackRuns, the values the reader gave before), and from
 * then on only those. The restart's own steps read the packed forms instead (packedVmasOf,
 * packedRunsOf, runPages, otherVmas: the reader's references, the check, the plan's `vmas` and
 * `runs` lines, the page counts): a process of 10,000 mappings made 10,000 VmaImage objects and
 * 10,000 run pairs, which cold code walked again at each step and V8 then collected.
 *
 * checkPacked accepts exactly what unpackVmas and checkRuns accept, or returns undefined: the
 * reader then takes the usual path, which says what is wrong (same checks, same order, same
 * messages as before).
 */
import type { CborValue } from './cbor.js';
import { Where } from './check.js';
import { native } from '../native/addon.js';
import type { TaskImage, VmaImage } from './types.js';
import { getU64 } from './u64.js';
import { unpackRuns, unpackVmas, VMAP_ENTRY } from './vma-pack.js';

export interface PackedVmas {
  /** the entries as 32-bit words, 8 per entry (vma-pack.ts), validated */
  q: Uint32Array;
  n: number;
  /** the task's other mappings (its `vmas` list), validated, in address order */
  rest: VmaImage[];
  /** restAt[r]: how many packed entries come before rest[r] in address order */
  restAt: Int32Array;
}
export interface PackedRuns {
  /** u64 address | u64 page count per run (16 bytes, the plan's `runs` entries too), validated */
  bytes: Uint8Array;
  q: Uint32Array;
  n: number;
  /** their page count */
  pages: number;
}

const words = (b: Uint8Array): Uint32Array => {
  const u = b.byteOffset % 4 ? new Uint8Array(b) : b;
  return new Uint32Array(u.buffer, u.byteOffset, u.length / 4);
};

/** The packed mappings merged with the others and the packed runs, when every check of
 * unpackVmas and of checkRuns (pages = true) passes; undefined otherwise. The loops are the
 * addon's (vmapCheck): in JavaScript they ran cold, ~8 ms for 10,000 entries. */
export function checkPacked(vmap: CborValue | undefined, rest: VmaImage[], runp: CborValue | undefined): { vmas: PackedVmas; runs: PackedRuns } | undefined {
  if (!(vmap instanceof Uint8Array) || vmap.length % VMAP_ENTRY || !(runp instanceof Uint8Array) || runp.length % 16) return undefined;
  const q = words(vmap);
  const others = new Float64Array(rest.length * 3);
  for (let r = 0; r < rest.length; r++) {
    others[3 * r] = rest[r]!.start;
    others[3 * r + 1] = rest[r]!.end;
    others[3 * r + 2] = rest[r]!.fill ? 1 : 0;
  }
  const restAt = new Int32Array(rest.length);
  const rq = new Uint32Array(new Uint8Array(runp).buffer); // a copy: kept to the end of a restart, not the record
  const pages = native().vmapCheck(q, others, rq, restAt);
  if (pages < 0) return undefined;
  return { vmas: { q, n: vmap.length / VMAP_ENTRY, rest, restAt }, runs: { bytes: new Uint8Array(rq.buffer), q: rq, n: runp.length / 16, pages } };
}

const packedV = new WeakMap<object, PackedVmas>();
const packedR = new WeakMap<object, PackedRuns>();
const vmasSet = new WeakMap<object, VmaImage[]>();
const runsSet = new WeakMap<object, [number, number][]>();
const NOWHERE = new Where('packed'); // never fails there: checked by checkPacked

/** The packed entries' bytes (8 words each) */
const bytesOf = (p: PackedVmas) => new Uint8Array(p.q.buffer, p.q.byteOffset, p.n * VMAP_ENTRY);

/** One getter and setter for every task (task-compact.ts: accessors made per task would put
 * each task object in V8's dictionary mode): the packed form unpacked once, on the first read;
 * from then on (or once set) the objects are the task's field (callers may change them). */
function unpackedOnce<P, V>(packed: WeakMap<object, P>, made: WeakMap<object, V>, unpack: (p: P) => V, none: () => V): PropertyDescriptor {
  return {
    enumerable: true,
    configurable: true,
    get(this: TaskImage) {
      let v = made.get(this);
      if (!v) {
        const p = packed.get(this);
        v = p ? unpack(p) : none();
        made.set(this, v);
        packed.delete(this);
      }
      return v;
    },
    set(this: TaskImage, v: V) {
      made.set(this, v);
      packed.delete(this);
    },
  };
}
const VMAS = unpackedOnce(packedV, vmasSet, (p) => unpackVmas(bytesOf(p), p.rest, NOWHERE), () => []);
const RUNS = unpackedOnce(packedR, runsSet, (p) => unpackRuns(p.bytes, NOWHERE), () => []);

/** t (just built by checkTask) keeps p as its mappings and page runs. */
export function keepPacked(t: TaskImage, p: { vmas: PackedVmas; runs: PackedRuns }): void {
  packedV.set(t, p.vmas);
  packedR.set(t, p.runs);
  Object.defineProperty(t, 'vmas', VMAS);
  Object.defineProperty(t, 'pageRuns', RUNS);
}

/** c, a copy of t (task-compact.ts: taskWith), keeps t's packed mappings and page runs, or the
 * objects made of them: its getters (copied, not called) read these. */
export function keepPackedOf(t: TaskImage, c: TaskImage): void {
  for (const m of [packedV, packedR, vmasSet, runsSet] as WeakMap<object, unknown>[]) {
    const v = m.get(t);
    if (v !== undefined) m.set(c, v);
  }
}

/** The task's packed mappings, while its `vmas` objects have not been made. */
export const packedVmasOf = (t: TaskImage): PackedVmas | undefined => packedV.get(t);
/** The task's packed page runs, while its `pageRuns` pairs have not been made. */
export const packedRunsOf = (t: TaskImage): PackedRuns | undefined => packedR.get(t);

/** The mappings other than plain anonymous packed ones: every mapping that can name a file, an
 * object or a segment (all of t.vmas when they are not packed). */
export const otherVmas = (t: TaskImage): VmaImage[] => packedV.get(t)?.rest ?? t.vmas;

/** The task's page count (its runs' pages). */
export function runPages(t: TaskImage): number {
  const p = packedR.get(t);
  if (p) return p.pages;
  let n = 0;
  const runs = t.pageRuns;
  for (let i = 0; i < runs.length; i++) n += runs[i]![1]; // by index: no iterator per run
  return n;
}

/** Entry i of packed mappings as the object unpackVmas makes of it. */
export function packedVma(p: PackedVmas, i: number): VmaImage {
  const q = p.q;
  const at = 8 * i;
  const word = q[at + 6]!;
  const bits = word >>> 24;
  const kind = (['anon', 'heap', 'stack'] as const)[bits >> 2]!;
  return { start: getU64(q, at), end: getU64(q, at + 2), prot: (word >>> 16) & 0xff, shared: (bits & 1) === 1, kind, path: undefined, pgoff: getU64(q, at + 4), file: undefined, madv: word & 0xffff, fill: (bits & 2) === 2 };
}
