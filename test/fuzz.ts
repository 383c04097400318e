/**
 * Image mutations for the fuzz tests: random truncation, bit flips in any record (frame header
 * or payload, metadata or pages: these meet the checksums), random record payloads, and
 * structure-aware edits of the CBOR metadata (a field's value, type or size, an array's length,
 * a key removed: still valid CBOR). Every mutation but the bit flips is resealed: its record's
 * checksum and the trailer (record count, page bytes, digest chain) are recomputed, so that
 * the decoder, the validator and the planner behind them are what has to refuse it.
 */
import { encode, decode, type CborValue } from '../src/image/cbor.js';
import { crc32c, digestAdd } from '../src/native/addon.js';
import { frames, KIND } from './image-edit.js';

/** A small deterministic PRNG (xorshift32), so that a failing case can be replayed by seed. */
export function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

export type Mutation = 'truncate' | 'flip' | 'payload' | 'cbor' | 'struct';

const PAGE_KINDS = new Set([16, 17, 18]);
const LZ4_KINDS = new Set([19, 20]);

function frame(kind: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(kind, 0);
  head.writeUInt32LE(crc32c(payload), 4);
  head.writeBigUInt64LE(BigInt(payload.length), 8);
  return Buffer.concat([head, payload]);
}

/**
 * The image with its trailer made right for the records before it: their count, the page bytes
 * they carry and the digest chained over their checksums (as the frames say them). An image
 * whose frames no longer parse is left as it is.
 */
export function reseal(b: Buffer): Buffer {
  const fr = frames(b);
  const t = fr.findIndex((f) => f.kind === KIND.TRAILER);
  if (t < 0) return b;
  let digest = 0;
  let pageBytes = 0;
  for (const f of fr.slice(0, t)) {
    digest = digestAdd(digest, b.readUInt32LE(f.at + 4));
    if (PAGE_KINDS.has(f.kind)) pageBytes += Math.max(0, f.len - 16);
    else if (LZ4_KINDS.has(f.kind) && f.len >= 8) pageBytes += b.readUInt32LE(f.at + 16 + 4) * 4096;
  }
  const trailer = encode({ records: t, pageBytes, digest });
  return Buffer.concat([b.subarray(0, fr[t]!.at), frame(KIND.TRAILER, trailer), b.subarray(fr[t]!.at + 16 + fr[t]!.len)]);
}

/** The image with record f's payload replaced (checksum and trailer made right). */
export function replacePayload(b: Buffer, f: { kind: number; at: number; len: number }, p: Buffer): Buffer {
  return reseal(Buffer.concat([b.subarray(0, f.at), frame(f.kind, p), b.subarray(f.at + 16 + f.len)]));
}

type Slot = { parent: CborValue[] | { [k: string]: CborValue }; key: number | string; value: CborValue };

/** Every value inside v with where it sits (the root excluded). */
function slots(v: CborValue, out: Slot[] = []): Slot[] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push({ parent: v, key: i, value: x }), slots(x, out)));
  else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array))
    for (const [k, x] of Object.entries(v)) out.push({ parent: v, key: k, value: x }), slots(x, out);
  return out;
}

/** Values at the edges of what fields hold: limits of the integer sizes, of pids, fds, pages. */
const EDGES: CborValue[] = [
  0, 1, -1, 2, 7, 15, 16, 64, 255, 256, 4095, 4096, 4097, 32767, 32768, 65535, 65536, 0x7fffffff, 0x80000000, 0xffffffff,
  2 ** 32, 2 ** 46, 2 ** 47, 2 ** 48, Number.MAX_SAFE_INTEGER, 2n ** 63n, 2n ** 64n - 1n, -(2 ** 31), -(2n ** 63n), 1 << 20, 4194304, 4194305,
];

function randomValue(rand: (n: number) => number, like: CborValue): CborValue {
  switch (rand(9)) {
    case 0:
      return EDGES[rand(EDGES.length)]!;
    case 1:
      return typeof like === 'number' ? like + rand(3) - 1 + (rand(2) ? 4096 : 0) : rand(1 << 20);
    case 2:
      return ['', 'x', 'x'.repeat(1 + rand(5000)), '\u001b[2J\n\u0007', '../../etc/passwd', 'anon', 'file', 'read', 'tcp', 'unix', '[vvar]', '/'][rand(12)]!;
    case 3:
      return new Uint8Array(rand(4) === 0 ? 1 + rand(70000) : rand(300));
    case 4:
      return [null, true, false][rand(3)]!;
    case 5:
      return rand(2) ? [] : {};
    case 6:
      return Array.isArray(like) ? like.slice(0, rand(like.length + 1)) : [like];
    case 7:
      return Array.isArray(like) && like.length ? [...like, ...Array(1 + rand(2000)).fill(like[rand(like.length)])] : { x: like };
    default:
      return like instanceof Uint8Array ? like.subarray(0, rand(like.length + 1)) : typeof like === 'string' ? like + like : null;
  }
}

/** 1 to 3 edits of a decoded record: a value replaced (an edge, another type, another size),
 * a map key removed, an array shortened or grown. */
export function editStructure(v: CborValue, rand: (n: number) => number): string[] {
  const what: string[] = [];
  for (let k = 1 + rand(3); k > 0; k--) {
    const all = slots(v);
    if (!all.length) break;
    const s = all[rand(all.length)]!;
    if (!Array.isArray(s.parent) && rand(6) === 0) {
      delete s.parent[s.key as string];
      what.push(`-${s.key}`);
      continue;
    }
    const nv = randomValue(rand, s.value);
    (s.parent as Record<string | number, CborValue>)[s.key] = nv;
    what.push(`${s.key}=${typeof nv === 'string' ? `text(${nv.length})` : nv instanceof Uint8Array ? `bytes(${nv.length})` : Array.isArray(nv) ? `array(${nv.length})` : typeof nv === 'object' && nv ? 'map' : String(nv)}`);
  }
  return what;
}

export function mutate(good: Buffer, how: Mutation, rand: (n: number) => number): { bytes: Buffer; what: string } {
  const fr = frames(good);
  switch (how) {
    case 'truncate': {
      const cut = rand(good.length);
      return { bytes: good.subarray(0, cut), what: `truncated at ${cut}` };
    }
    case 'flip': {
      // a record picked uniformly (metadata records are few but matter most), or the prelude
      const f = rand(fr.length + 1);
      const [start, len] = f === fr.length ? [0, 16] : [fr[f]!.at, 16 + fr[f]!.len];
      const b = Buffer.from(good);
      const flips = 1 + rand(3);
      const at: number[] = [];
      const seen = new Set<number>(); // never the same bit twice (that would undo the flip)
      while (seen.size < flips) {
        const p = start + rand(len);
        const bit = rand(8);
        if (seen.has(p * 8 + bit)) continue;
        seen.add(p * 8 + bit);
        b[p]! ^= 1 << bit;
        at.push(p);
      }
      return { bytes: b, what: `bits flipped at ${at.join(',')} (record ${f === fr.length ? 'prelude' : fr[f]!.kind})` };
    }
    case 'payload':
    case 'cbor': {
      // a record's payload replaced: random bytes of a random length, or the old payload with
      // a few bytes changed (still mostly valid CBOR)
      const f = fr[rand(fr.length)]!;
      const old = good.subarray(f.at + 16, f.at + 16 + f.len);
      let p: Buffer;
      if (how === 'payload') {
        do {
          p = Buffer.alloc(rand(Math.min(old.length * 2, 1 << 16) + 1));
          for (let i = 0; i < p.length; i++) p[i] = rand(256);
        } while (p.equals(old));
      } else {
        p = Buffer.from(old);
        // each changed byte really changes (a no-op mutation would be a good image)
        for (let k = 1 + rand(4); k > 0 && p.length; k--) {
          const i = rand(p.length);
          p[i] = (p[i]! + 1 + rand(255)) & 255;
        }
      }
      return { bytes: replacePayload(good, f, p), what: `${how} of record ${f.kind} at ${f.at} (${p.length} bytes)` };
    }
    case 'struct': {
      // a metadata record decoded, edited and encoded again
      const meta = fr.filter((f) => f.kind < 16);
      const f = meta[rand(meta.length)]!;
      const v = decode(good.subarray(f.at + 16, f.at + 16 + f.len));
      const edits = editStructure(v, rand);
      let p: Buffer;
      try {
        p = encode(v);
      } catch {
        p = good.subarray(f.at + 16, f.at + 16 + f.len); // too deep to encode: unchanged
      }
      return { bytes: replacePayload(good, f, p), what: `struct edit of record ${f.kind}: ${edits.join(' ')}` };
    }
  }
}

export const MUTATIONS: Mutation[] = ['truncate', 'flip', 'payload', 'cbor', 'struct'];
