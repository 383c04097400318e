/**
 * What decode() gives back for the bytes encode() writes for a value, made from the value itself
 * (no bytes read, nothing parsed), with what decoding those bytes would charge to a decode
 * budget. The checkpoint encodes its records FROM this copy (the same bytes as from the value:
 * -0 is 0, a bigint below 2^53 a number, a field left undefined absent, a Buffer a Uint8Array),
 * so the copy is what its bytes decode to, by construction; its check then takes the copy for a
 * record whose bytes, read back from the image, are exactly the ones written
 * (src/image/reader.ts `KnownRecords`), instead of decoding them again: the same values, a
 * fraction of the work (decoding a tree of 100 tasks cold: ~16 ms, this ~4).
 *
 * Only ordinary data is copied: safe integers, bigints of at most 64 bits, booleans, null,
 * well-formed text, Uint8Arrays, plain arrays and plain objects (prototype Object.prototype),
 * at most MAX_DEPTH deep. Anything else (a hole in an array, another typed array, a class
 * instance, text with a lone surrogate...) gives undefined: that record is encoded from the value
 * as before and decoded by the check as before.
 */
import type { CborValue } from './cbor.js';

const MAX_DEPTH = 32;
const TWO53 = 2n ** 53n;
/** with the u flag, a pair is one code point: only a lone half matches */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** What decoding a text charges (cbor.ts: 24 plus its UTF-8 bytes past 24 bytes), -1 for text
 * UTF-8 cannot carry as it is; short texts (keys, kinds, names) remembered. */
const textCharges = new Map<string, number>();
function textCharge(s: string): number {
  const c = textCharges.get(s);
  if (c !== undefined) return c;
  let n = 0;
  if (LONE_SURROGATE.test(s)) n = -1;
  else if (s.length > 8) {
    const b = Buffer.byteLength(s, 'utf8');
    n = b > 24 ? 24 + b : 0;
  }
  if (s.length <= 64 && textCharges.size < 4096) textCharges.set(s, n);
  return n;
}

class Copier {
  charge = 0;

  /** v as decode gives it back, or undefined when v is not ordinary data */
  of(v: unknown, depth: number): CborValue | undefined {
    if (v === null || v === true || v === false) return v;
    if (typeof v === 'number') return Number.isSafeInteger(v) ? (v === 0 ? 0 : v) : undefined;
    if (typeof v === 'string') {
      const c = textCharge(v);
      if (c < 0) return undefined;
      this.charge += c;
      return v;
    }
    if (typeof v === 'bigint') {
      if (v >= 0n) return v > 0xffffffffffffffffn ? undefined : v < TWO53 ? Number(v) : v;
      return -1n - v > 0xffffffffffffffffn ? undefined : v > -TWO53 ? Number(v) : v;
    }
    if (typeof v !== 'object' || depth >= MAX_DEPTH) return undefined;
    if (v instanceof Uint8Array) {
      this.charge += 192 + v.length;
      return new Uint8Array(v); // a copy: its own buffer, as decode's
    }
    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) return undefined;
      const n = v.length;
      this.charge += 40 + 8 * n;
      const a: CborValue[] = new Array(n);
      for (let i = 0; i < n; i++) {
        if (!(i in v)) return undefined;
        const x = this.of(v[i], depth + 1);
        if (x === undefined) return undefined;
        a[i] = x;
      }
      return a;
    }
    if (Object.getPrototypeOf(v) !== Object.prototype) return undefined;
    const o: { [k: string]: CborValue } = {};
    const src = v as Record<string, unknown>;
    let n = 0;
    for (const k in src) {
      const x = src[k];
      if (x === undefined) continue; // encode leaves it out
      if (!Object.hasOwn(src, k)) return undefined;
      const kc = textCharge(k);
      const y = kc < 0 ? undefined : this.of(x, depth + 1);
      if (y === undefined) return undefined;
      this.charge += kc;
      n++;
      if (k === '__proto__') Object.defineProperty(o, k, { value: y, enumerable: true, writable: true, configurable: true });
      else o[k] = y;
    }
    this.charge += 56 + 64 * n;
    return o;
  }
}

/** v as decode(encode(v)) gives it, and what that decoding charges; undefined when v holds
 * anything but ordinary data (see above). */
export function decodedCopy(v: unknown): { value: CborValue; charge: number } | undefined {
  const c = new Copier();
  const value = c.of(v, 0);
  return value === undefined ? undefined : { value, charge: c.charge };
}
