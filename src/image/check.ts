/** Typed checks of decoded metadata: each failure is an ImageError naming the field's path. */
import { ImageError } from '../errors.js';
import type { CborValue } from './cbor.js';
import { PAGE_SIZE, TASK_END } from './format.js';

export type Obj = { [k: string]: CborValue };
/** Pids are below the kernel's PID_MAX_LIMIT (2^22); the running system's pid_max is checked at
 * restart (src/image/limits.ts). */
export const PID_MAX = 4194304 - 1;
/** Most bytes queued in one socket that an image may carry. */
export const QUEUE_MAX = 4 << 20;
/** Most bytes of data one helper plan line carries (hex-encoded, in a line of at most 16 MiB:
 * native/helper/core/proto.h LINE_MAX_LEN): a pipe's queued bytes, a TCP socket's queues. */
export const PLAN_DATA_MAX = 7 << 20;
/** Largest content object (64 TiB), a sanity bound. */
export const OBJECT_MAX = 2 ** 46;
/** fd numbers are below the kernel's largest fs.nr_open (2^20); the restorer's own limit is
 * checked at restart (src/image/limits.ts). */
export const MAX_FD = (1 << 20) - 1;
/** PATH_MAX */
export const PATH_BYTES_MAX = 4096;

/** An image value as an error message shows it: a plain word as it is, other text quoted and
 * cut at 40 characters (UcrError escapes what is left), anything else by its type. */
export function shown(v: CborValue | undefined): string {
  if (typeof v === 'string') return /^[\w.:/+@-]{1,40}$/.test(v) ? v : JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  return v instanceof Uint8Array ? `${v.length} bytes` : Array.isArray(v) ? `an array of ${v.length}` : 'a map';
}

/** Where a value sits in the metadata ("TASK 12.vmas[3].start"), for error messages. The
 * text is only built when a check fails: validating a large tree makes millions of these. */
export class Where {
  private readonly parent: Where | undefined;
  private readonly key: string | number;
  constructor(path: string);
  constructor(parent: Where, key: string | number);
  constructor(base: string | Where, key?: string | number) {
    if (typeof base === 'string') {
      this.parent = undefined;
      this.key = base;
    } else {
      this.parent = base;
      this.key = key!;
    }
  }
  get path(): string {
    if (!this.parent) return this.key as string;
    // keys are the schema's, or an image's own (socket options): cut those short
    return typeof this.key === 'number' ? `${this.parent.path}[${this.key}]` : `${this.parent.path}.${this.key.length > 40 ? `${this.key.slice(0, 40)}...` : this.key}`;
  }
  at(k: string | number): Where {
    return new Where(this, k);
  }
  fail(msg: string): never {
    throw new ImageError(`${this.path}: corrupt image: ${msg}`);
  }
}

/** The checks of int() and obj() without a Where, for the fast paths of long lists (a well-formed
 * entry taken as it is; anything else goes the long way, which names what is wrong). */
export function isInt(v: CborValue | undefined, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}
export function isMap(v: CborValue | undefined): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function obj(v: CborValue | undefined, w: Where): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) w.fail('expected a map');
  return v as Obj;
}
export function arr(v: CborValue | undefined, w: Where, max = 1 << 24): CborValue[] {
  if (!Array.isArray(v)) w.fail('expected an array');
  if (v.length > max) w.fail(`more than ${max} entries`);
  return v;
}
export function int(v: CborValue | undefined, w: Where, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) w.fail('expected an integer');
  if (v < min || v > max) w.fail(`${v} is outside ${min}..${max}`);
  return v;
}
export function u64(v: CborValue | undefined, w: Where): bigint | number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n && v <= 0xffffffffffffffffn) return v;
  w.fail('expected an unsigned 64-bit integer');
}
/** Text of at most max characters, without NUL (no name or path of the kernel holds one). */
export function str(v: CborValue | undefined, w: Where, max = 4096): string {
  if (typeof v !== 'string') w.fail('expected text');
  if (v.length > max) w.fail(`text of ${v.length} characters, at most ${max}`);
  if (v.includes('\0')) w.fail('text holds a NUL character');
  return v;
}
/** pathText's conditions (not absolute) as a test, for the fast paths that make no message. */
export function isPathText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= PATH_BYTES_MAX && !v.includes('\0') && Buffer.byteLength(v) < PATH_BYTES_MAX;
}
/** A path as the kernel takes it: not empty, at most PATH_MAX bytes, no NUL; absolute if asked. */
export function pathText(v: CborValue | undefined, w: Where, absolute = false): string {
  const s = str(v, w, PATH_BYTES_MAX);
  if (!s.length) w.fail('empty path');
  if (Buffer.byteLength(s) >= PATH_BYTES_MAX) w.fail(`path longer than ${PATH_BYTES_MAX - 1} bytes`);
  if (absolute && !s.startsWith('/')) w.fail('the path is not absolute');
  return s;
}
export function bytes(v: CborValue | undefined, w: Where, min: number, max: number): Uint8Array {
  if (!(v instanceof Uint8Array)) w.fail('expected bytes');
  if (v.length < min || v.length > max) w.fail(`${v.length} bytes, expected ${min}..${max}`);
  return v;
}
export function bool(v: CborValue | undefined, w: Where): boolean {
  if (typeof v !== 'boolean') w.fail('expected a boolean');
  return v;
}
export function addr(v: CborValue | undefined, w: Where, aligned = false): number {
  const a = int(v, w, 0, TASK_END);
  if (aligned && a % PAGE_SIZE) w.fail(`0x${a.toString(16)} is not page aligned`);
  return a;
}
export function field<T>(o: Obj, k: string, w: Where, f: (v: CborValue | undefined, w: Where) => T): T {
  return f(o[k], w.at(k));
}

