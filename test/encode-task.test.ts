import { describe, expect, it } from 'vitest';
import { decode, decodeBudget, encode, known, type CborValue } from '../src/image/cbor.js';
import { chargeOf, encodeTask } from '../src/image/encode-task.js';
import type { TaskImage, VmaImage } from '../src/image/types.js';

const PAGE = 4096;

/** n mappings of every shape classifyTask makes (and a few it does not), one page apart. */
function vmas(n: number): VmaImage[] {
  const out: VmaImage[] = [];
  for (let i = 0; i < n; i++) {
    const start = 0x10000000 + 2 * i * PAGE;
    const base = { start, end: start + PAGE, prot: i % 8, shared: i % 5 === 0, pgoff: 0, madv: (i * 37) % 0x4000, fill: i % 3 === 0 };
    switch (i % 9) {
      case 0:
        out.push({ ...base, kind: 'file', path: `/usr/lib/lib${i}.so`, pgoff: i * PAGE, file: { size: i * 100, mtimeMs: 1700000000000 + i, ino: i, dev: 2049 } });
        break;
      case 1:
        out.push({ ...base, kind: 'object', path: '/memfd:x (deleted)', obj: i });
        break;
      case 2:
        out.push({ ...base, kind: 'heap' });
        break;
      case 3:
        out.push({ ...base, kind: 'stack' });
        break;
      case 4:
        out.push({ ...base, kind: 'sysvshm', shm: { id: i, flags: 0o10000 } });
        break;
      case 5: // the plain fields in another order: not the plain shape
        out.push({ kind: 'anon', start: base.start, end: base.end, prot: 3, shared: false, pgoff: 0, madv: 0, fill: true });
        break;
      default:
        out.push({ ...base, kind: 'anon' });
    }
  }
  return out;
}

function task(n: number): TaskImage {
  const v = vmas(n);
  const pageRuns: [number, number][] = v.filter((m) => m.fill).map((m) => [m.start, 1]);
  return { pid: 42, comm: 'x', vmas: v, pageRuns, regs: new Uint8Array(8), fds: [] } as unknown as TaskImage;
}

describe('TASK record encoding (encode-task.ts)', () => {
  it('writes the very bytes the generic encoder writes, for every shape of mapping and run', () => {
    for (const n of [0, 1, 63, 64, 1000]) {
      const t = task(n);
      expect(encodeTask(t).bytes.equals(encode(t as unknown as CborValue))).toBe(true);
    }
    // not a plain mapping: odd values, extra or missing fields go through the generic encoder
    const odd = task(100);
    (odd.vmas[6] as unknown as Record<string, unknown>).start = 2n ** 40n;
    (odd.vmas[7] as unknown as Record<string, unknown>).extra = 'x';
    delete (odd.vmas[8] as unknown as Record<string, unknown>).fill;
    (odd.pageRuns as unknown as unknown[])[3] = [1, 2, 3];
    expect(encodeTask(odd).bytes.equals(encode(odd as unknown as CborValue))).toBe(true);
  });

  it('kept arrays decode to the values written, charged as decoding them would be, and only while kept', () => {
    const t = task(1000);
    const plainBytes = encode(t as unknown as CborValue);
    const { bytes, forget } = encodeTask(t, true);
    expect(known.size).toBe(2);
    expect(Object.isFrozen(t.vmas) && Object.isFrozen(t.vmas[0]) && Object.isFrozen(t.vmas[0]!.file)).toBe(true);
    const b1 = decodeBudget(1 << 30);
    const b2 = decodeBudget(1 << 30);
    const withKnown = decode(bytes, b1) as Record<string, CborValue[]>;
    forget();
    expect(known.size).toBe(0);
    const plain = decode(plainBytes, b2) as Record<string, CborValue[]>;
    expect(withKnown).toEqual(plain);
    expect(withKnown.vmas![10]).toBe(t.vmas[10]); // taken, not decoded
    expect(withKnown.vmas).not.toBe(t.vmas); // a new array of the same items
    expect(b1.left).toBe(b2.left);
    // other bytes (one value changed) are decoded
    const { bytes: again, forget: f2 } = encodeTask(task(1000), true);
    const changed = Buffer.from(again);
    changed[changed.indexOf(Buffer.from('stack')) + 2] ^= 1;
    const d = decode(changed) as Record<string, VmaImage[]>;
    f2();
    expect(d.vmas!.some((v) => v.kind !== 'stack' && v.kind.startsWith('st'))).toBe(true);
  });

  it('keeps only what decoding gives back as it is', () => {
    expect(chargeOf({ a: 1, b: [true, null, 'x'] })).toBe(56 + 64 * 2 + 40 + 8 * 3);
    expect(chargeOf({ p: 'y'.repeat(30) })).toBe(56 + 64 + 24 + 30);
    for (const bad of [{ a: undefined }, { a: 1n }, { a: -0 }, { a: 0.5 }, { a: '\ud800' }, { a: new Uint8Array(1) }, Object.create({ x: 1 }), [, 1]])
      expect(chargeOf(bad)).toBe(-1);
  });
});
