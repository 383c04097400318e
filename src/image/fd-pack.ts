/**
 * Format 1.8: a task's fd table packed into one byte string (TASK `fdp` instead of `fds`) when it
 * holds FDP_MIN fds or more (docs/image-format.md). A tree of 10 tasks x 400 fds made 4,000 CBOR
 * maps of three keys, which the checkpoint encoded and its check decoded, and the restart decoded
 * and validated one by one, cold (most of a restart's metadata reading there: ~18 ms of ~30);
 * packed, a table is one byte string, taken as rows of numbers in one loop.
 *
 * An entry, little-endian: u32 fd | u32 file id | u32 flags (bit 0 close-on-exec, the others
 * zero); entries in rising fd order, exactly the rows the reader keeps (task-compact.ts fdRows).
 */
import type { CborValue } from './cbor.js';
import { MAX_FD, type Where } from './check.js';
import { fdRows } from './task-compact.js';
import type { TaskImage } from './types.js';

export const FDP_ENTRY = 12;
/** A task packs its fds from this many on (fewer: `fds` as before, and the image keeps the
 * minor it had before 1.8). */
export const FDP_MIN = 64;
/** File ids are below this (as in `fds`: validate.ts). */
const FILE_MAX = 1 << 30;

/** The task has enough fds to pack them (format-minor.ts: 1.8). */
export function packsFds(t: TaskImage): boolean {
  return fdRows(t).length >= 3 * FDP_MIN;
}

/** The TASK record as written: the task itself, or a plain copy with `fdp` in place of `fds`
 * (the same key order; the fds are taken as rows, never as a list of objects). */
export function packFds(t: TaskImage): TaskImage {
  const rows = fdRows(t);
  if (rows.length < 3 * FDP_MIN) return t;
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(t)) {
    if (k === 'fds') o.fdp = new Uint8Array(rows.buffer.slice(rows.byteOffset, rows.byteOffset + rows.byteLength)); // little-endian: ucr runs on x86_64 only
    else o[k] = (t as unknown as Record<string, unknown>)[k];
  }
  return o as unknown as TaskImage;
}

/** The rows of a TASK record's `fdp`: whole entries, fds rising and below 2^20, file ids below
 * 2^30, flags 0 or 1; anything else is refused naming the entry. (Whether each file exists is
 * the reader's check, as for `fds`.) */
export function checkFdp(v: CborValue | undefined, w: Where): Int32Array {
  if (!(v instanceof Uint8Array)) return w.fail('expected bytes');
  if (v.length % FDP_ENTRY) w.fail(`${v.length} bytes, not whole entries of ${FDP_ENTRY}`);
  // decode gives the byte string a buffer of its own: aligned unless it is a view
  const u = v.byteOffset % 4 ? new Uint8Array(v) : v;
  const rows = new Int32Array(u.buffer, u.byteOffset, v.length / 4);
  let prev = -1;
  for (let i = 0; i < rows.length; i += 3) {
    const fd = rows[i]!;
    const file = rows[i + 1]!;
    const flags = rows[i + 2]!;
    if (fd < 0 || fd > MAX_FD) w.at(i / 3).fail(`fd ${fd >>> 0} is outside 0..${MAX_FD}`);
    if (fd <= prev) w.at(i / 3).fail(`fd ${fd} is out of order or appears twice`);
    if (file < 0 || file >= FILE_MAX) w.at(i / 3).fail(`file ${file >>> 0} is outside 0..${FILE_MAX - 1}`);
    if (flags !== 0 && flags !== 1) w.at(i / 3).fail(`flags 0x${(flags >>> 0).toString(16)}: only bit 0 (close-on-exec) may be set`);
    prev = fd;
  }
  return rows;
}
