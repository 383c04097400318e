/**
 * Compact forms of a decoded TASK record's longest parts, kept by the reader in place of their
 * objects (a tree of 1,000 tasks x 400 fds: ~21 MB of heap for the fd objects, 11 MB for the
 * XSAVE areas): the fds as rows of numbers, the XSAVE area without the zeros at its end. The
 * task's `fds` and `xstate` stay readable (getters that make the usual values, a new copy each
 * time); fdRows and xstateParts give the compact forms without a copy.
 */
import { crc32c } from '../native/addon.js';
import { keepPackedOf } from './packed-task.js';
import type { FdImage, TaskImage } from './types.js';

const rowsOf = new WeakMap<TaskImage, Int32Array>();
const partsOf = new WeakMap<TaskImage, XstateParts>();

export interface XstateParts {
  /** the bytes up to the last non-zero one (at least one) */
  used: Uint8Array;
  /** the area's size */
  len: number;
}

const fdsSet = new WeakMap<object, FdImage[]>();
const xstateSet = new WeakMap<object, Uint8Array>();
// one getter and setter for every task: accessors made per task (closures) would put each task
// object in V8's slow (dictionary) mode, and every later read of its fields with it
const FDS: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: TaskImage) {
    return fdsSet.get(this) ?? fdList(rowsOf.get(this) ?? new Int32Array(0));
  },
  set(this: TaskImage, v: FdImage[]) {
    fdsSet.set(this, v);
    rowsOf.delete(this);
  },
};
const XSTATE: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: TaskImage) {
    const x = partsOf.get(this);
    return xstateSet.get(this) ?? (x ? fullXstate(x) : new Uint8Array(0));
  },
  set(this: TaskImage, v: Uint8Array) {
    xstateSet.set(this, v);
    partsOf.delete(this);
  },
};

/** A decoded task with its compact forms: t.fds and t.xstate make the usual values when asked
 * (a new copy each time) until they are set. */
export function compact(t: Omit<TaskImage, 'fds' | 'xstate'>, rows: Int32Array, xs: XstateParts): TaskImage {
  rowsOf.set(t as TaskImage, rows);
  partsOf.set(t as TaskImage, xs);
  Object.defineProperty(t, 'xstate', XSTATE);
  Object.defineProperty(t, 'fds', FDS);
  return t as TaskImage;
}

/** Gives t its fds as rows (the checkpoint's, made from the files capture's tables: no object
 * per fd); t.fds makes the list when asked, until it is set. */
export function setFdRows(t: TaskImage, rows: Int32Array): void {
  fdsSet.delete(t);
  rowsOf.set(t, rows);
  Object.defineProperty(t, 'fds', FDS);
}

/** A copy of t with the given fields (the timer policy's: kernel/timers.ts) that keeps t's
 * compact forms and packed mappings (packed-task.ts) as they are. A spread ({ ...t }) calls the
 * getters: every fd made an object, the whole XSAVE area, the mappings unpacked (on t too, whose
 * getters keep what they made); and the copy has none of the forms, so fdRows and xstateParts
 * make new ones (restore-plan.ts makes the lines of equal fd tables once, by their rows' object).
 * Here the accessors are copied, not called. */
export function taskWith(t: TaskImage, fields: Partial<TaskImage>): TaskImage {
  const c = Object.defineProperties({}, Object.getOwnPropertyDescriptors(t)) as TaskImage;
  for (const m of [rowsOf, partsOf, fdsSet, xstateSet] as WeakMap<object, unknown>[]) {
    const v = m.get(t);
    if (v !== undefined) m.set(c, v);
  }
  keepPackedOf(t, c);
  return Object.assign(c, fields);
}

/** The FdImage list of rows (a new one each time). */
export function fdList(rows: Int32Array): FdImage[] {
  const l: FdImage[] = new Array(rows.length / 3);
  for (let i = 0; i < l.length; i++) l[i] = { fd: rows[3 * i]!, file: rows[3 * i + 1]!, cloexec: rows[3 * i + 2] === 1 };
  return l;
}

/** b's length without the zeros at its end (at least 1): compared 4096, then 256, then 16
 * bytes at a time by Buffer.compare, since a byte loop over ~10 KB per task runs unoptimized
 * here (tens of ms for a tree of 100). */
const ZEROS = Buffer.alloc(4096);
export function usedLength(b: Uint8Array): number {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let n = b.length;
  for (const step of [4096, 256, 16]) while (n > step && buf.compare(ZEROS, 0, step, n - step, n) === 0) n -= step;
  while (n > 1 && b[n - 1] === 0) n--;
  return n;
}

/** An XSAVE area as its used bytes (a copy of them when shorter) and its size. */
export function xstateOf(full: Uint8Array): XstateParts {
  const n = usedLength(full);
  return { used: n === full.length ? full : full.slice(0, n), len: full.length };
}

/** The XSAVE legacy area and header: what an area left without its final zeros keeps at least
 * (format 1.5 for threads', 1.8 for a task's own). */
export const XSAVE_KEPT = 576;

/** An area without the zeros at its end (a view), never shorter than XSAVE_KEPT. */
export function withoutFinalZeros(x: Uint8Array): Uint8Array {
  const n = Math.max(XSAVE_KEPT, usedLength(x));
  return n < x.length ? x.subarray(0, n) : x;
}

/** A task read with its XSAVE area left without its final zeros: the area is len bytes. */
export function setXstateLen(t: TaskImage, len: number): void {
  const x = xstateParts(t);
  partsOf.set(t, { used: x.used, len });
}

/** The whole area again (a new copy, unless nothing was left out). */
export function fullXstate(x: XstateParts): Uint8Array {
  if (x.used.length === x.len) return x.used;
  const b = new Uint8Array(x.len);
  b.set(x.used);
  return b;
}

/** A task's fds as rows of (fd, file, cloexec 0/1), sorted by fd: without an object per fd. */
export function fdRows(t: TaskImage): Int32Array {
  const r = rowsOf.get(t);
  if (r) return r;
  const fds = t.fds;
  const a = new Int32Array(fds.length * 3);
  for (let i = 0; i < fds.length; i++) {
    a[3 * i] = fds[i]!.fd;
    a[3 * i + 1] = fds[i]!.file;
    a[3 * i + 2] = fds[i]!.cloexec ? 1 : 0;
  }
  return a;
}

/** A task's XSAVE area as its used bytes and its size. */
export function xstateParts(t: TaskImage): XstateParts {
  return partsOf.get(t) ?? xstateOf(t.xstate);
}

/**
 * One copy of the parts of decoded tasks that are equal byte for byte (a forked child's fd rows,
 * XSAVE area and auxv are its parent's; idle threads share one XSAVE area): a tree of 1,000
 * tasks x 400 inherited fds held ~8 MB of identical rows and areas in the CLI. Those parts are
 * never written once decoded (every reader of them takes them as they are).
 */
export class SharedParts {
  private readonly seen = new Map<number, (Uint8Array | Int32Array)[]>();

  /** b, or the first equal one of its type seen: the same object (restore-plan.ts makes the lines
   * of a shared one once) */
  bytes<T extends Uint8Array | Int32Array>(b: T): T {
    if (b.byteLength < 64) return b;
    const view = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const key = crc32c(view) + b.byteLength * 2 ** 32;
    const list = this.seen.get(key);
    for (const x of list ?? []) if (x.constructor === b.constructor && view.equals(Buffer.from(x.buffer, x.byteOffset, x.byteLength))) return x as T;
    if (list) list.push(b);
    else this.seen.set(key, [b]);
    return b;
  }

  /** t's fd rows, XSAVE areas and auxv, as the first equal ones seen; its mappings, page runs,
   * limits, credentials, signal state... as its parent's when they are the same (a forked
   * child's: 21,000 mapping objects and 16,000 limits for a tree of 1,000). */
  task(t: TaskImage, parent?: TaskImage): void {
    if (parent) for (const k of FROM_PARENT) if (sameValue(parent[k], t[k])) (t as unknown as Record<string, unknown>)[k] = parent[k];
    const rows = rowsOf.get(t);
    if (rows) rowsOf.set(t, this.bytes(rows));
    const x = partsOf.get(t);
    if (x) partsOf.set(t, { used: this.bytes(x.used), len: x.len });
    t.auxv = this.bytes(t.auxv);
    for (const th of t.threads) th.xstate = this.bytes(th.xstate);
  }
}

/** What a task takes from its parent when equal (read only once decoded, as the parts above). */
const FROM_PARENT = ['vmas', 'pageRuns', 'rlimits', 'mm', 'creds', 'specials', 'itimers', 'sigactions', 'signals', 'rseq'] as const;

/** Plain values (numbers, text, bytes, arrays, objects of them) equal field by field. Equal
 * primitives are compared in place, without a call (most fields of a forked child's parts). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
    return a.length === 0 || Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      const p = a[i];
      const q = b[i];
      if (p !== q && !sameValue(p, q)) return false;
    }
    return true;
  }
  if (Array.isArray(b)) return false;
  // the same keys (for...in, counted: no array of keys made per object, ~10 ms for a tree of
  // 100 tasks' mappings), each of the same value
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    const p = x[k];
    const q = y[k];
    if (p !== q ? !sameValue(p, q) : p === undefined && !(k in y)) return false;
    n++;
  }
  for (const _ in y) n--;
  return n === 0;
}
