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

  it('decodes map keys as own data only: __proto__ and inherited names are keys like any other', () => {
    const v = decode(encode({ toString: 1, constructor: 2 })) as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['toString', 'constructor']);
    expect([v.toString, v.constructor]).toEqual([1, 2]);
    // {"__proto__": {"polluted": 1}}: a key, not the prototype
    const p = decode(Buffer.from('a1695f5f70726f746f5f5fa168706f6c6c75746564' + '01', 'hex')) as Record<string, unknown>;
    expect(Object.keys(p)).toEqual(['__proto__']);
    expect((p as { polluted?: number }).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
    expect(() => decode(Buffer.from('a2695f5f70726f746f5f5f01695f5f70726f746f5f5f02', 'hex'))).toThrow(/duplicate map key __proto__/);
    // the encoder writes addresses beyond 2^32 as 8-byte integers without going through BigInt
    for (const n of [0xffffffff, 0x100000000, 0x7ffc12345000, Number.MAX_SAFE_INTEGER]) expect(decode(encode(n))).toBe(n);
    expect(encode(0x7ffc12345000).toString('hex')).toBe('1b00007ffc12345000');
  });
});
