/**
 * Image mutations for the fuzz tests: random truncation, bit flips in any record (frame header
 * or payload, metadata or pages), and random record payloads (with a correct checksum, so that
 * the decoder and validator behind the checksum are reached too).
 */
import { crc32c } from '../src/native/addon.js';
import { frames } from './image-edit.js';

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

export type Mutation = 'truncate' | 'flip' | 'payload' | 'cbor';

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
      // a few bytes changed (still mostly valid CBOR); the checksum is made right
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
      const head = Buffer.alloc(16);
      head.writeUInt32LE(f.kind, 0);
      head.writeUInt32LE(crc32c(p), 4);
      head.writeBigUInt64LE(BigInt(p.length), 8);
      return { bytes: Buffer.concat([good.subarray(0, f.at), head, p, good.subarray(f.at + 16 + f.len)]), what: `${how} of record ${f.kind} at ${f.at} (${p.length} bytes)` };
    }
  }
}

export const MUTATIONS: Mutation[] = ['truncate', 'flip', 'payload', 'cbor'];
