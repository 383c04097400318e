/** isoTime (src/iso-time.ts) writes what Date's toISOString writes, without its time zone set-up. */
import { describe, expect, it } from 'vitest';
import { isoTime } from '../src/iso-time.js';

describe('isoTime', () => {
  it('is toISOString for the epoch, leap days, ends of years, the last millisecond of 9999 and years outside 0-9999', () => {
    const times = [
      0, 1, 999, 86_399_999, 951_782_400_000 /* 2000-02-29 */, 1_709_164_800_123 /* 2024-02-29 */, 1_735_689_599_999 /* 2024-12-31T23:59:59.999 */,
      1_796_389_000_456, 253_402_300_799_999 /* 9999-12-31T23:59:59.999 */, 253_402_300_800_000 /* +010000 */, -1, -62_167_219_200_000 /* 0000-01-01 */, -62_167_219_200_001,
    ];
    for (const t of times) expect(isoTime(t), String(t)).toBe(new Date(t).toISOString());
  });

  it('is now without an argument', () => {
    const before = Date.now();
    const t = Date.parse(isoTime());
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });
});
