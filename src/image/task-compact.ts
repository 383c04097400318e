/**
 * Compact forms of a decoded TASK record's longest parts, kept by the reader in place of their
 * objects (a tree of 1,000 tasks x 400 fds: ~21 MB of heap for the fd objects, 11 MB for the
 * XSAVE areas): the fds as rows of numbers, the XSAVE area without the zeros at its end. The
 * task's `fds` and `xstate` stay readable (getters that make the usual values, a new copy each
 * time); fdRows and xstateParts give the compact forms without a copy.
 */
import type { FdImage, TaskImage } from './types.js';

const rowsOf = new WeakMap<TaskImage, Int32Array>();

/** A decoded task keeps its fds as rows only: t.fds makes the FdImage list when asked (a new
 * one each time); setting t.fds replaces the rows. */
export function withFdRows(t: TaskImage, rows: Int32Array): TaskImage {
  rowsOf.set(t, rows);
  Object.defineProperty(t, 'fds', {
    enumerable: true,
    configurable: true,
    get: () => {
      const l: FdImage[] = new Array(rows.length / 3);
      for (let i = 0; i < l.length; i++) l[i] = { fd: rows[3 * i]!, file: rows[3 * i + 1]!, cloexec: rows[3 * i + 2] === 1 };
      return l;
    },
    set(this: TaskImage, v: FdImage[]) {
      rowsOf.delete(this);
      Object.defineProperty(this, 'fds', { value: v, enumerable: true, configurable: true, writable: true });
    },
  });
  return t;
}

const xstateOf = new WeakMap<TaskImage, { used: Uint8Array; len: number }>();

/** b's length without the zeros at its end (at least 1): compared 4096, then 256, then 16
 * bytes at a time by Buffer.compare, since a byte loop over ~10 KB per task runs unoptimized
 * here (tens of ms for a tree of 100). */
const ZEROS = Buffer.alloc(4096);
function usedLength(b: Uint8Array): number {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let n = b.length;
  for (const step of [4096, 256, 16]) while (n > step && buf.compare(ZEROS, 0, step, n - step, n) === 0) n -= step;
  while (n > 1 && b[n - 1] === 0) n--;
  return n;
}

/** A decoded task keeps its XSAVE area without the zeros at its end (unused AVX-512 and AMX
 * state: ~9 of 11 KB); t.xstate pads it again when asked (a new copy each time). */
export function withXstate(t: TaskImage): TaskImage {
  const full = t.xstate;
  const n = usedLength(full);
  if (n === full.length) return t;
  const x = { used: full.slice(0, n), len: full.length };
  xstateOf.set(t, x);
  Object.defineProperty(t, 'xstate', {
    enumerable: true,
    configurable: true,
    get: () => {
      const b = new Uint8Array(x.len);
      b.set(x.used);
      return b;
    },
    set(this: TaskImage, v: Uint8Array) {
      xstateOf.delete(this);
      Object.defineProperty(this, 'xstate', { value: v, enumerable: true, configurable: true, writable: true });
    },
  });
  return t;
}

/** A task's XSAVE area as its bytes up to the last non-zero one (at least one) and its size. */
export function xstateParts(t: TaskImage): { used: Uint8Array; len: number } {
  const x = xstateOf.get(t);
  if (x) return x;
  return { used: t.xstate.subarray(0, usedLength(t.xstate)), len: t.xstate.length };
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
