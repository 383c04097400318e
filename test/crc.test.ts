import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32c } from '../src/native/addon.js';
import { cleanup, tmpdir } from './harness.js';

afterAll(cleanup);

/** CRC-32C bit by bit: the reference the native version (the path this CPU runs fastest: AVX-512,
 * AVX2 or SSE folding, three SSE4.2 streams) must equal. */
function reference(buf: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const b of buf) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/** The same a byte at a time (for the long inputs), continuing seed as the native one does. */
const table = Array.from({ length: 256 }, (_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
  return c >>> 0;
});
function referenceFast(buf: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (const b of buf) crc = (crc >>> 8) ^ table[(crc ^ b) & 0xff]!;
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

  it('equals the reference around the folding paths\' block sizes (16, 64, 128, 256 bytes) at every alignment', () => {
    const data = randomBytes(4096 + 64);
    for (let len = 200; len <= 1100; len += len < 600 ? 1 : 7)
      for (let off = 0; off < 64; off++) {
        const part = data.subarray(off, off + len);
        expect(crc32c(part), `length ${len} offset ${off}`).toBe(referenceFast(part));
      }
  });

  it('continues a seed: crc(crc(s, a), b) is crc(s, a then b), on inputs up to 5 MiB', () => {
    const data = randomBytes(5 << 20);
    for (const [len, cut] of [[4096, 1], [4096, 255], [70000, 300], [1 << 20, 12345], [5 << 20, 3 << 20], [(5 << 20) - 13, 77]] as const) {
      const seed = randomBytes(4).readUInt32LE();
      const whole = data.subarray(0, len);
      expect(crc32c(whole, seed), `length ${len}`).toBe(referenceFast(whole, seed));
      expect(crc32c(data.subarray(cut, len), crc32c(data.subarray(0, cut), seed)), `length ${len} cut ${cut}`).toBe(referenceFast(whole, seed));
    }
  });

  it('every path this CPU can run equals the table path (test/native/crc_paths.c, a test build)', () => {
    // the addon runs one path per CPU: this compares the others too (a CPU with AVX-512 also
    // checks the AVX2 and SSE ones), lengths 0 to 5,000 at 64 alignments and long inputs
    const root = path.join(__dirname, '..');
    const bin = path.join(tmpdir('crc'), 'crc_paths');
    execFileSync('gcc', ['-O2', '-DUCR_CRC32C_TEST', '-I', path.join(root, 'native/common'), '-o', bin, path.join(root, 'test/native/crc_paths.c'), path.join(root, 'native/common/crc32c.c'), path.join(root, 'native/common/crc32c_x86.c')]);
    const out = execFileSync(bin, { encoding: 'utf8' });
    expect(out).toMatch(/^paths table sse4\.2 pclmul.*: \d+ comparisons equal\n$/);
  });
});
