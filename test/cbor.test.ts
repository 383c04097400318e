import { describe, expect, it } from 'vitest';
import { CborError, decode, encode, type CborValue } from '../src/image/cbor.js';

describe('CBOR metadata codec', () => {
  it('round-trips every supported type, including 64-bit integers', () => {
    const v: CborValue = {
      small: 5,
      neg: -300,
      big: 0xffffffffffffffffn,
      safe: Number.MAX_SAFE_INTEGER,
      text: 'héllo',
      bytes: new Uint8Array([1, 2, 3]),
      list: [true, false, null, [1, [2]]],
      nested: { a: { b: 'c' } },
    };
    expect(decode(encode(v))).toEqual(v);
  });

  it('matches RFC 8949 encodings', () => {
    expect(encode(0).toString('hex')).toBe('00');
    expect(encode(24).toString('hex')).toBe('1818');
    expect(encode(1000000).toString('hex')).toBe('1a000f4240');
    expect(encode(-1).toString('hex')).toBe('20');
    expect(encode('a').toString('hex')).toBe('6161');
    expect(encode([1, 2]).toString('hex')).toBe('820102');
    expect(encode({ a: 1 }).toString('hex')).toBe('a1616101');
  });

  it('rejects malformed input with CborError, never anything else', () => {
    const good = encode({ list: [1, 2, 3], text: 'abc', bytes: new Uint8Array(40) });
    let rng = 12345;
    const rand = (n: number) => ((rng = (rng * 1103515245 + 12345) & 0x7fffffff) % n);
    // every case decodes or throws a CborError (no threshold on how many: random data)
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.from(good.subarray(0, rand(good.length + 1)));
      if (b.length) b[rand(b.length)] ^= 1 << rand(8);
      try {
        decode(b);
      } catch (e) {
        expect(e).toBeInstanceOf(CborError);
      }
    }
    expect(() => decode(Buffer.from('9bffffffffffffffff', 'hex'))).toThrow(CborError); // huge array length
    expect(() => decode(Buffer.from('a2616101616102', 'hex'))).toThrow(/duplicate map key/);
    expect(() => decode(Buffer.from('0000', 'hex'))).toThrow(/trailing/);
  });
});
