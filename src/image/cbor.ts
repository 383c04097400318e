/**
 * The metadata encoding: a strict subset of CBOR (RFC 8949), so any CBOR decoder can read an
 * image's metadata records. Supported: unsigned and negative integers (bigint beyond 2^53),
 * byte strings (Uint8Array), text strings, arrays, maps with text keys (plain objects),
 * false/true/null. No floats, tags or indefinite lengths. The decoder is defensive: every length
 * is checked against the bytes left, nesting is bounded, what the decoded values will take in
 * memory is charged to a budget before they are allocated (an array header claiming a million
 * entries costs its 8 MB at once), and errors are CborError.
 */
export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | CborValue[]
  | { [key: string]: CborValue };

export class CborError extends Error {
  override name = 'CborError';
}

const MAX_DEPTH = 32;

/** What decoding may still allocate, in bytes of JavaScript heap (estimated, per value kind,
 * as measured on Node 20: an array 40 + 8 per entry, a map 56 + 64 per key, a byte string 192
 * plus its bytes, a long text 24 plus its characters). One budget spans every record of an
 * image. */
export interface DecodeBudget {
  left: number;
  readonly limit: number;
}

export function decodeBudget(limit: number): DecodeBudget {
  return { left: limit, limit };
}

/** encode()'s buffer, reused from one record to the next (a TASK record of ~16 KB grew from 256
 * bytes by seven doublings, each a zeroed buffer and a copy); a record is copied out of it once
 * complete. A record larger than SCRATCH_KEEP keeps the buffer it grew into instead. */
let scratch: Buffer = Buffer.allocUnsafe(64 * 1024);
const SCRATCH_KEEP = 1 << 20;

export class Out {
  len = 0;
  constructor(public buf: Buffer = Buffer.alloc(256)) {}
  need(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  head(major: number, n: number | bigint): void {
    const m = major << 5;
    this.need(9);
    const b = this.buf;
    let l = this.len;
    if (typeof n === 'number') {
      // byte by byte: no BigInt for the 64-bit addresses of every mapping, no bounds checks
      if (n < 24) b[l++] = m | n;
      else if (n < 0x100) (b[l++] = m | 24), (b[l++] = n);
      else if (n < 0x10000) (b[l++] = m | 25), (b[l++] = n >>> 8), (b[l++] = n & 0xff);
      else if (n < 0x100000000) {
        b[l++] = m | 26;
        b[l++] = n >>> 24;
        b[l++] = (n >>> 16) & 0xff;
        b[l++] = (n >>> 8) & 0xff;
        b[l++] = n & 0xff;
      } else {
        const hi = Math.floor(n / 0x100000000);
        const lo = n >>> 0;
        b[l++] = m | 27;
        b[l++] = hi >>> 24;
        b[l++] = (hi >>> 16) & 0xff;
        b[l++] = (hi >>> 8) & 0xff;
        b[l++] = hi & 0xff;
        b[l++] = lo >>> 24;
        b[l++] = (lo >>> 16) & 0xff;
        b[l++] = (lo >>> 8) & 0xff;
        b[l++] = lo & 0xff;
      }
      this.len = l;
      return;
    }
    if (n > 0xffffffffn) {
      b[l++] = m | 27;
      b.writeBigUInt64BE(n, l);
      this.len = l + 8;
      return;
    }
    this.head(major, Number(n));
  }
  bytes(b: Uint8Array): void {
    this.need(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
}

/** Short strings (map keys, kinds) encoded once: a tree's metadata repeats them ~10^5 times. */
const short = new Map<string, Buffer>();

function encString(out: Out, v: string): void {
  let e = v.length <= 32 ? short.get(v) : undefined;
  if (!e) {
    const b = Buffer.from(v, 'utf8');
    if (v.length > 32 || short.size >= 4096) {
      out.head(3, b.length);
      return out.bytes(b);
    }
    const o = new Out();
    o.head(3, b.length);
    o.bytes(b);
    e = o.buf.subarray(0, o.len);
    short.set(v, e);
  }
  out.bytes(e);
}

export function enc(out: Out, v: CborValue, depth: number): void {
  if (depth > MAX_DEPTH) throw new CborError('value nested too deeply');
  if (v === null) return out.head(7, 22);
  if (v === false) return out.head(7, 20);
  if (v === true) return out.head(7, 21);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new CborError(`not an integer: ${v}`);
    return v >= 0 ? out.head(0, v) : out.head(1, -1 - v);
  }
  if (typeof v === 'bigint') {
    if (v >= 0n) {
      if (v > 0xffffffffffffffffn) throw new CborError('integer exceeds 64 bits');
      return out.head(0, v);
    }
    if (-1n - v > 0xffffffffffffffffn) throw new CborError('integer exceeds 64 bits');
    return out.head(1, -1n - v);
  }
  if (typeof v === 'string') return encString(out, v);
  if (v instanceof Uint8Array) {
    out.head(2, v.length);
    return out.bytes(v);
  }
  if (Array.isArray(v)) {
    out.head(4, v.length);
    for (const x of v) enc(out, x, depth + 1);
    return;
  }
  encMap(out, v, depth, undefined);
}

/** A map's head and its defined fields, in insertion order; fields: those written by their own
 * encoders (encodeWith). */
function encMap(out: Out, v: { [k: string]: CborValue | undefined }, depth: number, fields: Record<string, FieldEncoder> | undefined): void {
  let n = 0;
  for (const k in v) if (v[k] !== undefined) n++;
  out.head(5, n);
  for (const k in v) {
    const x = v[k];
    if (x === undefined) continue;
    encString(out, k);
    const f = fields && Object.hasOwn(fields, k) ? fields[k] : undefined;
    if (f) f(out, x, depth + 1);
    else enc(out, x, depth + 1);
  }
}

export function encode(v: CborValue): Buffer {
  return encodeWith(v, undefined);
}

/** What encodeWith writes in place of the generic encoding of a map's value. */
export type FieldEncoder = (out: Out, v: CborValue, depth: number) => void;

/** encode() of a map whose listed fields are written by their own encoders (the same bytes
 * enc would write, faster: a task's 10,000 mappings and runs, src/image/encode-task.ts). */
export function encodeWith(v: CborValue, fields: Record<string, FieldEncoder> | undefined): Buffer {
  const out = new Out(scratch);
  // not reentrant: enc never calls encode
  if (fields && typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)) encMap(out, v, 0, fields);
  else enc(out, v, 0);
  if (out.buf.length > SCRATCH_KEEP) {
    scratch = Buffer.allocUnsafe(64 * 1024);
    return out.buf.subarray(0, out.len);
  }
  scratch = out.buf;
  return Buffer.from(out.buf.subarray(0, out.len));
}

class In {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly budget: DecodeBudget,
  ) {}
  charge(n: number): void {
    if ((this.budget.left -= n) < 0)
      throw new CborError(`the metadata would take more than ${this.budget.limit >> 20} MiB of memory decoded (at byte ${this.pos})`);
  }
  take(n: number): number {
    if (n > this.buf.length - this.pos) throw new CborError(`truncated at byte ${this.pos}`);
    const p = this.pos;
    this.pos += n;
    return p;
  }
  arg(info: number): number | bigint {
    if (info < 24) return info;
    const b = this.buf;
    if (info === 24) return b[this.take(1)]!;
    if (info === 25) {
      const p = this.take(2);
      return (b[p]! << 8) | b[p + 1]!;
    }
    if (info === 26) {
      const p = this.take(4);
      return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
    }
    if (info === 27) {
      const p = this.take(8);
      const hi = b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
      const lo = b[p + 4]! * 0x1000000 + ((b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!);
      if (hi < 0x200000) return hi * 0x100000000 + lo; // <= 2^53 - 1
      return (BigInt(hi) << 32n) | BigInt(lo);
    }
    throw new CborError(`unsupported length encoding ${info} at byte ${this.pos - 1}`);
  }
  len(info: number): number {
    const n = this.arg(info);
    if (typeof n === 'bigint' || n > this.buf.length - this.pos)
      throw new CborError(`length ${n} exceeds the record at byte ${this.pos}`);
    return n;
  }
}

/** Text as UTF-8 (a malformed sequence becomes U+FFFD, as Buffer.toString gives it) through the
 * Buffer's own slice method: one call into the runtime per string. Hashing and comparing short
 * keys byte by byte to reuse strings seen before ran in V8's interpreter when a command decodes
 * its records once, cold (a tree of 100 tasks: ~10,000 keys, decoding 10-13 ms against 7-9;
 * Buffer.toString's argument checks cost as much again). A key is internalized by the first
 * object it is stored in. */
function text(buf: Buffer, start: number, n: number): string {
  return (buf as Buffer & { utf8Slice(start: number, end: number): string }).utf8Slice(start, start + n);
}

function dec(inp: In, depth: number): CborValue {
  if (depth > MAX_DEPTH) throw new CborError('value nested too deeply');
  const ib = inp.buf[inp.take(1)]!;
  const major = ib >> 5;
  const info = ib & 31;
  switch (major) {
    case 0:
      return inp.arg(info);
    case 1: {
      const n = inp.arg(info);
      return typeof n === 'bigint' ? -1n - n : n < Number.MAX_SAFE_INTEGER ? -1 - n : -1n - BigInt(n);
    }
    case 2: {
      const n = inp.len(info);
      inp.charge(192 + n);
      return new Uint8Array(inp.buf.subarray(inp.take(n), inp.pos));
    }
    case 3: {
      const n = inp.len(info);
      if (n > 24) inp.charge(24 + n);
      return text(inp.buf, inp.take(n), n);
    }
    case 4: {
      const n = inp.len(info); // every item takes at least one byte
      inp.charge(40 + 8 * n);
      const a: CborValue[] = new Array(n);
      for (let i = 0; i < n; i++) a[i] = dec(inp, depth + 1);
      return a;
    }
    case 5: {
      const n = inp.len(info);
      inp.charge(56 + 64 * n);
      // a plain object: V8 gives the maps of one shape a shared hidden class (fast to build and
      // to read), where Object.create(null) makes each a hash table. Keys are own properties
      // only: an inherited name (toString...) is not a duplicate, __proto__ is defined as data.
      const o: { [k: string]: CborValue } = {};
      for (let i = 0; i < n; i++) {
        const k = dec(inp, depth + 1);
        if (typeof k !== 'string') throw new CborError('map key is not text');
        if (o[k] !== undefined && Object.hasOwn(o, k)) throw new CborError(`duplicate map key ${k}`);
        const v = dec(inp, depth + 1);
        if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
        else o[k] = v;
      }
      return o;
    }
    case 7:
      if (info === 20) return false;
      if (info === 21) return true;
      if (info === 22) return null;
      throw new CborError(`unsupported simple value ${info}`);
    default:
      throw new CborError(`unsupported CBOR major type ${major}`);
  }
}

/** budget: shared by the records of one image (default: as much as the bytes could ever take). */
export function decode(buf: Buffer, budget: DecodeBudget = decodeBudget(Infinity)): CborValue {
  // a Buffer's view of a plain Uint8Array (text() takes the Buffer's slice method)
  const inp = new In(Buffer.isBuffer(buf) ? buf : Buffer.from((buf as Uint8Array).buffer, (buf as Uint8Array).byteOffset, (buf as Uint8Array).byteLength), budget);
  const v = dec(inp, 0);
  if (inp.pos !== buf.length) throw new CborError(`${buf.length - inp.pos} trailing bytes`);
  return v;
}
