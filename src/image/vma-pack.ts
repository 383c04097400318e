/**
 * Format 1.6: a task's plain anonymous mappings packed into one byte string (TASK `vmap`),
 * the others in `vmas` as before (docs/image-format.md). A process of 10,000 mappings made
 * 10,000 CBOR maps of 8 keys each, which the restart decoded and validated one by one (the
 * largest part of its metadata reading); packed, they are 32 bytes each, read in one loop.
 *
 * An entry, little-endian: u64 start | u64 end | u64 pgoff | u16 madv | u8 prot | u8 bits
 * (bit 0 shared, bit 1 fill, bits 2-3 kind: 0 anon, 1 heap, 2 stack) | u32 0.
 * Entries are in address order; merged with `vmas`, every mapping must still be in order and
 * apart (the same checks as for `vmas`, validate-vmas.ts).
 * Its page runs then go packed too (TASK `runp` instead of `pageRuns`): u64 address | u64 page
 * count, in stream order, checked as `pageRuns` are.
 */
import type { CborValue } from './cbor.js';
import type { Where } from './check.js';
import { PAGE_SIZE, TASK_END } from './format.js';
import type { TaskImage, VmaImage } from './types.js';
import { getU64, packPairs, putU64 } from './u64.js';

export const VMAP_ENTRY = 32;
/** A task packs its mappings from this many plain anonymous ones on (fewer: `vmas` only, and the
 * image keeps the minor it had before 1.6). */
export const VMAP_MIN = 64;
const KINDS = ['anon', 'heap', 'stack'] as const;

/** The fields every packed entry holds (1.6's `vmap`, 1.10's `fmap`: file-vma-pack.ts) fit it
 * exactly; anything else stays a map (and any bad value is refused by the checks of the map as
 * before). */
export function entryFits(v: VmaImage): boolean {
  return (
    v.prot >>> 0 === v.prot && v.prot <= 7 && v.madv >>> 0 === v.madv && v.madv <= 0x3fff && typeof v.shared === 'boolean' && typeof v.fill === 'boolean' &&
    Number.isSafeInteger(v.pgoff) && v.pgoff >= 0 && Number.isSafeInteger(v.start) && v.start >= 0 && Number.isSafeInteger(v.end) && v.end >= 0
  );
}

/** Entry `at` (in words) of q: v's range, pgoff, madv, prot, shared and fill bits, the kind's
 * bits above them (bits 2-3) and the entry's last word. */
export function putEntry(q: Uint32Array, at: number, v: VmaImage, kindBits: number, last: number): void {
  putU64(q, at, v.start);
  putU64(q, at + 2, v.end);
  putU64(q, at + 4, v.pgoff);
  q[at + 6] = v.madv | (v.prot << 16) | (((v.shared ? 1 : 0) | (v.fill ? 2 : 0) | (kindBits << 2)) << 24);
  q[at + 7] = last;
}

function packable(v: VmaImage): boolean {
  return (v.kind === 'anon' || v.kind === 'heap' || v.kind === 'stack') && v.path === undefined && v.file === undefined && v.obj === undefined && v.shm === undefined && v.ring === undefined && entryFits(v);
}

/** The task has enough plain anonymous mappings to pack them (format-minor.ts: 1.6). */
export function packsVmas(t: TaskImage): boolean {
  let n = 0;
  for (const v of t.vmas) if (packable(v) && ++n >= VMAP_MIN) return true;
  return false;
}

/** The TASK record as written: the task itself, or with its plain anonymous mappings packed. */
export function packTask(t: TaskImage): TaskImage | (Omit<TaskImage, 'vmas' | 'pageRuns'> & { vmas: VmaImage[]; vmap: Uint8Array; runp: Uint8Array }) {
  if (!packsVmas(t)) return t;
  const runs = t.pageRuns;
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i]!;
    if (!Array.isArray(r) || r.length !== 2 || !Number.isSafeInteger(r[0]) || r[0] < 0 || !Number.isSafeInteger(r[1]) || r[1] < 0) return t; // as maps: checked as before
  }
  const rest: VmaImage[] = [];
  let n = 0;
  for (const v of t.vmas) if (packable(v)) n++;
  const b = new Uint8Array(n * VMAP_ENTRY);
  const q = new Uint32Array(b.buffer); // little-endian: ucr runs on x86_64 only
  let at = 0;
  for (const v of t.vmas) {
    if (!packable(v)) {
      rest.push(v);
      continue;
    }
    putEntry(q, at, v, KINDS.indexOf(v.kind as (typeof KINDS)[number]), 0);
    at += VMAP_ENTRY / 4;
  }
  const { pageRuns: _, ...others } = t;
  return { ...others, vmas: rest, vmap: b, runp: packPairs(runs) };
}

/** Packed entries of 32 bytes (u64 start | u64 end | u64 pgoff | u16 madv | u8 prot | u8 bits |
 * u32 last, format 1.6's `vmap` and 1.10's `fmap`: putEntry) merged into the (validated) others,
 * in address order: make gives entry i's mapping from its fields once its range, pgoff, madv and
 * prot are checked (it checks bits 2-7 and last); anything out of bounds, out of order or
 * overlapping is refused naming the entry. w: the packed field's. */
export function mergePacked(
  v: Uint8Array,
  rest: VmaImage[],
  w: Where,
  make: (i: number, e: { start: number; end: number; pgoff: number; madv: number; prot: number; shared: boolean; fill: boolean }, bits: number, last: number) => VmaImage,
): VmaImage[] {
  const n = v.length / VMAP_ENTRY;
  const u = v.byteOffset % 4 ? new Uint8Array(v) : v;
  const q = new Uint32Array(u.buffer, u.byteOffset, v.length / 4);
  const out: VmaImage[] = new Array(n + rest.length);
  let prevEnd = 0;
  let r = 0;
  let k = 0;
  for (let i = 0, at = 0; i < n; i++, at += VMAP_ENTRY / 4) {
    const start = getU64(q, at);
    const end = getU64(q, at + 2);
    const pgoff = getU64(q, at + 4);
    if (start % PAGE_SIZE || end % PAGE_SIZE || end > TASK_END || end <= start) w.at(i).fail(`0x${start.toString(16)}-0x${end.toString(16)} is not a page-aligned range of the user address space`);
    const word = q[at + 6]!;
    const madv = word & 0xffff;
    const prot = (word >>> 16) & 0xff;
    const bits = word >>> 24;
    if (pgoff > Number.MAX_SAFE_INTEGER || madv > 0x3fff || prot > 7) w.at(i).fail('a field is out of its bounds');
    const m = make(i, { start, end, pgoff, madv, prot, shared: (bits & 1) === 1, fill: (bits & 2) === 2 }, bits >> 2, q[at + 7]!);
    // the others that come before it
    while (r < rest.length && rest[r]!.start < start) {
      if (rest[r]!.start < prevEnd) w.fail('mappings overlap or are out of order');
      prevEnd = rest[r]!.end;
      out[k++] = rest[r++]!;
    }
    if (start < prevEnd) w.at(i).fail('mappings overlap or are out of order');
    prevEnd = end;
    out[k++] = m;
  }
  for (; r < rest.length; r++) {
    if (rest[r]!.start < prevEnd) w.fail('mappings overlap or are out of order');
    prevEnd = rest[r]!.end;
    out[k++] = rest[r]!;
  }
  return out;
}

/** The packed mappings merged into the (validated) others, in address order; anything out of
 * bounds, out of order or overlapping is refused naming the entry. */
export function unpackVmas(v: CborValue | undefined, rest: VmaImage[], w: Where): VmaImage[] {
  if (!(v instanceof Uint8Array)) return w.fail('expected bytes');
  if (v.length % VMAP_ENTRY) w.fail(`${v.length} bytes, not whole entries of ${VMAP_ENTRY}`);
  return mergePacked(v, rest, w, (i, e, kind, last) => {
    if (kind > 2 || last) w.at(i).fail('a field is out of its bounds');
    return { start: e.start, end: e.end, prot: e.prot, shared: e.shared, kind: KINDS[kind]!, path: undefined, pgoff: e.pgoff, file: undefined, madv: e.madv, fill: e.fill };
  });
}

/** Packed page runs as the [address, count] pairs `pageRuns` holds (checked by checkRuns). */
export function unpackRuns(v: CborValue | undefined, w: Where): [number, number][] {
  if (!(v instanceof Uint8Array)) return w.fail('expected bytes');
  if (v.length % 16) w.fail(`${v.length} bytes, not whole entries of 16`);
  const u = v.byteOffset % 4 ? new Uint8Array(v) : v;
  const q = new Uint32Array(u.buffer, u.byteOffset, v.length / 4);
  const out: [number, number][] = new Array(v.length / 16);
  for (let i = 0; i < out.length; i++) out[i] = [getU64(q, 4 * i), getU64(q, 4 * i + 2)];
  return out;
}
