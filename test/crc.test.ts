import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../src/native/addon.js';

/** CRC-32C bit by bit: the reference the native (three-stream SSE4.2) version must equal. */
function reference(buf: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const b of buf) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

describe('crc32c', () => {
  it('the known check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('equals the bitwise reference at every length and alignment around the block sizes', () => {
    const data = randomBytes(3 * 8192 * 2 + 3 * 256 * 2 + 64);
    const lengths = [0, 1, 7, 8, 9, 255, 256, 767, 768, 769, 1000, 24575, 24576, 24577, 25344, 40000, data.length - 64];
    for (const len of lengths)
      for (const off of [0, 1, 3, 8, 13])
        expect(crc32c(data.subarray(off, off + len)), `length ${len} offset ${off}`).toBe(reference(data.subarray(off, off + len)));
  });
});
