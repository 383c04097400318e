/**
 * The TASK record's encoding on the checkpoint's side: the same bytes as encode() (cbor.ts),
 * with a task's mappings and page runs written by their own loops (10,000 mappings: each
 * field's key and value went through the generic encoder, a Map lookup and a copy per key).
 *
 * For the checkpoint's own check, which reads the record back, the task can be encoded from the
 * copy decode would give back (cbor-decoded.ts): the same bytes, and the check takes that copy
 * for them instead of decoding them again.
 */
import { decodedCopy } from './cbor-decoded.js';
import { enc, encodeWith, Out, type CborValue } from './cbor.js';
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

function vmasField(out: Out, x: CborValue, depth: number): void {
  if (!Array.isArray(x)) return enc(out, x, depth);
  const vmas = x as unknown as VmaImage[];
  out.head(4, vmas.length);
  for (let i = 0; i < vmas.length; i++) {
    const v = vmas[i]!;
    const kind = typeof v === 'object' && v !== null ? plainKind(v) : undefined;
    if (!kind) {
      enc(out, v as unknown as CborValue, depth + 1);
      continue;
    }
    put(out, K_START);
    out.head(0, v.start);
    put(out, K_END);
    out.head(0, v.end);
    put(out, tailOf(v, kind));
  }
}

function runsField(out: Out, x: CborValue, depth: number): void {
  if (!Array.isArray(x)) return enc(out, x, depth);
  out.head(4, x.length);
  for (let i = 0; i < x.length; i++) {
    const r = x[i]!;
    if (Array.isArray(r) && r.length === 2 && natural(r[0]) && natural(r[1])) {
      out.head(4, 2);
      out.head(0, r[0]);
      out.head(0, r[1]);
    } else enc(out, r, depth + 1);
  }
}

const FIELDS = { vmas: vmasField, pageRuns: runsField };

/** The TASK record of t, as encode(t) makes it. decoded: encoded from the copy decode would
 * give back for these bytes (cbor-decoded.ts), handed back with what decoding them charges;
 * undefined (and encoded from t) when t holds anything but ordinary data. */
export function encodeTask(t: TaskImage, decoded = false): { bytes: Buffer; decoded?: { value: CborValue; charge: number } } {
  const d = decoded ? decodedCopy(t) : undefined;
  const bytes = encodeWith((d ? d.value : t) as unknown as CborValue, FIELDS);
  return d ? { bytes, decoded: d } : { bytes };
}
