/**
 * The TASK record's encoding on the checkpoint's side: the same bytes as encode() (cbor.ts),
 * with a task's mappings and page runs written by their own loops (10,000 mappings: each
 * field's key and value went through the generic encoder, a Map lookup and a copy per key).
 *
 * The arrays written this way are also kept (cbor.ts `known`) for the checkpoint's own check,
 * which reads the record back: an array whose bytes there are exactly the ones written decodes
 * to the value they were written from, which the check takes instead of making 10,000 objects
 * again. That holds because the values kept are plain data that decode gives back as they are
 * (see chargeOf: safe integers, booleans, well-formed text, plain objects and arrays, nothing
 * undefined), and because they are frozen once written. The check still validates and plans
 * them, from the bytes it read: only the decoding is saved.
 */
import { enc, encodeWith, known, KNOWN_MIN, Out, type CborValue, type KnownArray } from './cbor.js';
import type { TaskImage, VmaImage } from './types.js';

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
/** A text head (major 3, length < 24) and its bytes. */
const text = (s: string) => Uint8Array.from([0x60 | s.length, ...ascii(s)]);

/** The fields of a plain mapping (anon, heap, stack: classifyTask makes them in this order). */
const PLAIN_KEYS = ['start', 'end', 'prot', 'shared', 'pgoff', 'madv', 'fill', 'kind'];
const K_START = Uint8Array.from([0xa0 | PLAIN_KEYS.length, ...text('start')]);
const K_END = text('end');
const K_PROT = text('prot');
const K_SHARED = text('shared');
const K_PGOFF = text('pgoff');
const K_MADV = text('madv');
const K_FILL = text('fill');
const K_KIND = text('kind');
const KIND_BYTES: Record<string, Uint8Array> = { anon: text('anon'), heap: text('heap'), stack: text('stack') };
/** what decoding a plain mapping charges (cbor.ts: a map 56 + 64 per key, short texts nothing) */
const PLAIN_CHARGE = 56 + 64 * PLAIN_KEYS.length;

/** bytes copied in one builtin call (a byte loop runs in V8's interpreter here: the command
 * encodes a task once, cold) */
function put(out: Out, bytes: Uint8Array): void {
  out.need(bytes.length);
  out.buf.set(bytes, out.len);
  out.len += bytes.length;
}

/** The bytes of a plain mapping after its end (prot to kind), by prot, shared, fill, kind and
 * madv when pgoff is 0 (a few distinct ones among 10,000 mappings). */
const tails = new Map<number, Uint8Array>();
const KIND_NR: Record<string, number> = { anon: 0, heap: 1, stack: 2 };

function tailOf(v: VmaImage, kind: Uint8Array): Uint8Array {
  const key = v.pgoff === 0 && v.madv < 0x10000 ? v.prot | (v.shared ? 8 : 0) | (v.fill ? 16 : 0) | (KIND_NR[v.kind]! << 5) | (v.madv << 7) : -1;
  let t = key >= 0 ? tails.get(key) : undefined;
  if (t) return t;
  const o = new Out(Buffer.alloc(64));
  put(o, K_PROT);
  o.head(0, v.prot);
  put(o, K_SHARED);
  o.head(7, v.shared ? 21 : 20);
  put(o, K_PGOFF);
  o.head(0, v.pgoff);
  put(o, K_MADV);
  o.head(0, v.madv);
  put(o, K_FILL);
  o.head(7, v.fill ? 21 : 20);
  put(o, K_KIND);
  put(o, kind);
  t = o.buf.slice(0, o.len);
  if (key >= 0 && tails.size < 4096) tails.set(key, t);
  return t;
}

const natural = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && (x > 0 || Object.is(x, 0));

/** The kind's bytes when v is a plain mapping, its fields in classify's order and of their
 * types; else undefined. */
function plainKind(v: VmaImage): Uint8Array | undefined {
  let i = 0;
  for (const k in v) if (k !== PLAIN_KEYS[i++]) return undefined;
  if (i !== PLAIN_KEYS.length || Object.getPrototypeOf(v) !== Object.prototype) return undefined;
  const kind = KIND_BYTES[v.kind];
  if (!kind || !Object.hasOwn(KIND_BYTES, v.kind)) return undefined;
  if (!natural(v.start) || !natural(v.end) || !natural(v.prot) || !natural(v.pgoff) || !natural(v.madv)) return undefined;
  if (typeof v.shared !== 'boolean' || typeof v.fill !== 'boolean') return undefined;
  return kind;
}

/** with the u flag, a pair is one code point: only a lone half matches */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** What decode() would charge for v, or -1 when decode would not give v back as it is. */
export function chargeOf(v: unknown, depth = 0): number {
  if (depth > 8) return -1;
  if (typeof v === 'number') return natural(v) || (Number.isSafeInteger(v) && v < 0) ? 0 : -1;
  if (typeof v === 'boolean' || v === null) return 0;
  if (typeof v === 'string') {
    if (LONE_SURROGATE.test(v)) return -1; // text that UTF-8 cannot carry as it is
    const n = Buffer.byteLength(v);
    return n > 24 ? 24 + n : 0;
  }
  if (typeof v !== 'object') return -1;
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype) return -1;
    let c = 40 + 8 * v.length;
    for (let i = 0; i < v.length; i++) {
      const x = i in v ? chargeOf(v[i], depth + 1) : -1;
      if (x < 0) return -1;
      c += x;
    }
    return c;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return -1;
  let c = 56;
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const x = o[k];
    const kc = chargeOf(k, depth + 1);
    if (x === undefined || k === '__proto__' || !Object.hasOwn(o, k) || kc < 0) return -1;
    const xc = chargeOf(x, depth + 1);
    if (xc < 0) return -1;
    c += 64 + kc + xc;
  }
  return c;
}

/** Arrays written by the last encodeTask, with where their bytes lie in the record. */
let written: { from: number; to: number; value: readonly CborValue[]; charge: number; deep: number[] }[] = [];

function vmasField(out: Out, x: CborValue, depth: number): void {
  if (!Array.isArray(x)) return enc(out, x, depth);
  const vmas = x as unknown as VmaImage[];
  const from = out.len;
  out.head(4, vmas.length);
  let charge = 40 + 8 * vmas.length;
  const deep: number[] = [];
  for (let i = 0; i < vmas.length; i++) {
    const v = vmas[i]!;
    const kind = typeof v === 'object' && v !== null ? plainKind(v) : undefined;
    if (!kind) {
      deep.push(i);
      enc(out, v as unknown as CborValue, depth + 1);
      const c = charge >= 0 ? chargeOf(v) : -1;
      charge = c < 0 ? -1 : charge + c;
      continue;
    }
    put(out, K_START);
    out.head(0, v.start);
    put(out, K_END);
    out.head(0, v.end);
    put(out, tailOf(v, kind));
    if (charge >= 0) charge += PLAIN_CHARGE;
  }
  if (charge >= 0 && vmas.length >= KNOWN_MIN) written.push({ from, to: out.len, value: vmas as unknown as CborValue[], charge, deep });
}

function runsField(out: Out, x: CborValue, depth: number): void {
  if (!Array.isArray(x)) return enc(out, x, depth);
  const from = out.len;
  out.head(4, x.length);
  let plain = Object.getPrototypeOf(x) === Array.prototype;
  const deep: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const r = x[i]!;
    if (Array.isArray(r) && r.length === 2 && natural(r[0]) && natural(r[1])) {
      out.head(4, 2);
      out.head(0, r[0]);
      out.head(0, r[1]);
      plain &&= Object.getPrototypeOf(r) === Array.prototype;
    } else {
      enc(out, r, depth + 1);
      plain = false;
    }
  }
  if (plain && x.length >= KNOWN_MIN) written.push({ from, to: out.len, value: x, charge: 40 + 8 * x.length + x.length * (40 + 8 * 2), deep });
}

const FIELDS = { vmas: vmasField, pageRuns: runsField };

/** The TASK record of t, as encode(t) makes it. keep: the long arrays written (mappings, runs)
 * are kept for the check (frozen from now on: the check takes them as the bytes' value) until
 * the function returned is called. */
export function encodeTask(t: TaskImage, keep = false): { bytes: Buffer; forget: () => void } {
  written = [];
  const bytes = encodeWith(t as unknown as CborValue, FIELDS);
  if (!keep) return { bytes, forget: () => {} };
  const kept: KnownArray[] = [];
  for (const w of written) {
    freeze(w.value, w.deep);
    const k: KnownArray = { bytes: bytes.subarray(w.from, w.to), value: w.value, charge: w.charge };
    const n = w.value.length;
    let list = known.get(n);
    if (!list) known.set(n, (list = []));
    list.push(k);
    kept.push(k);
  }
  written = [];
  return {
    bytes,
    forget: () => {
      for (const k of kept.splice(0)) {
        const list = known.get(k.value.length);
        const i = list ? list.indexOf(k) : -1;
        if (i >= 0) list!.splice(i, 1);
        if (list && !list.length) known.delete(k.value.length);
      }
    },
  };
}

/** An array kept and its items (the mappings, the runs): what the check takes for the bytes
 * must not change after they were written. */
function freeze(a: readonly CborValue[], deep: number[]): void {
  // the plain ones hold numbers, booleans and text only
  for (let i = 0; i < a.length; i++) Object.freeze(a[i]);
  for (const i of deep) deepFreeze(a[i] as object);
  Object.freeze(a);
}

function deepFreeze(x: object): void {
  Object.freeze(x);
  for (const k in x) {
    const y = (x as Record<string, unknown>)[k];
    if (typeof y === 'object' && y !== null) deepFreeze(y);
  }
}
