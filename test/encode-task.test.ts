import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decode, decodeBudget, encode, type CborValue } from '../src/image/cbor.js';
import { decodedCopy } from '../src/image/cbor-decoded.js';
import { encodeTask } from '../src/image/encode-task.js';
import { ImageReader, type KnownRecords } from '../src/image/reader.js';
import { ImageWriter } from '../src/image/writer.js';
import { crc32c } from '../src/native/addon.js';
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

  it('a task encoded from its decoded copy: the same bytes, and the copy is what they decode to, charged alike', () => {
    for (const n of [0, 1, 64, 1000]) {
      const t = task(n);
      const { bytes, decoded } = encodeTask(t, true);
      expect(bytes.equals(encode(t as unknown as CborValue))).toBe(true);
      const b = decodeBudget(1 << 30);
      expect(decoded!.value).toStrictEqual(decode(bytes, b));
      expect(decoded!.charge).toBe((1 << 30) - b.left);
      expect((decoded!.value as Record<string, unknown>).vmas).not.toBe(t.vmas); // a copy, not the task's
    }
  });

  it('copies ordinary data only, exactly as decode gives it back', () => {
    const odd = {
      zero: -0,
      big: [2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n, -(2n ** 53n) + 1n, -(2n ** 53n), -(2n ** 64n), 5n, -5n],
      ints: [0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -1, -24, -25, -(2 ** 32), Number.MIN_SAFE_INTEGER],
      gone: undefined,
      buf: Buffer.from('abc'),
      sub: new Uint8Array(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2),
      text: ['', 'x', 'y'.repeat(24), 'y'.repeat(25), 'é'.repeat(9), 'é'.repeat(13), '€'.repeat(8), '€'.repeat(9), '\ud83d\ude00'],
      ['__proto__']: { a: 1 },
      2: 'two',
      1: 'one',
      nested: { m: [[], {}, [null, true, false]], u: { x: undefined, y: 1 } },
    };
    Object.defineProperty(odd, '__proto__', { value: { a: 1 }, enumerable: true, writable: true, configurable: true });
    const d = decodedCopy(odd)!;
    const bytes = encode(odd as unknown as CborValue);
    expect(encode(d.value).equals(bytes)).toBe(true);
    const b = decodeBudget(1 << 30);
    const back = decode(bytes, b);
    expect(d.value).toStrictEqual(back);
    expect(Object.keys(d.value as object)).toEqual(Object.keys(back as object));
    expect(d.charge).toBe((1 << 30) - b.left);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    for (const bad of [undefined, { a: 0.5 }, { a: NaN }, { a: 2n ** 64n }, { a: '\ud800' }, { ['\udc00']: 1 }, { a: new Int32Array(1) }, { a: new Map() }, { a: () => 1 }, Object.create({ x: 1 }), [, 1], new (class X {})(), deep])
      expect(decodedCopy(bad)).toBeUndefined();
  });

  it("the writer keeps every metadata record it writes for the check: the generic encoder's bytes, and a copy that is what they decode to", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucr-keep-')), 'img');
    const fd = fs.openSync(file, 'w+', 0o600);
    try {
      const w = new ImageWriter(fd, file);
      w.copyFrom();
      w.keep = true;
      const header = { createdAt: '2026-12-05T00:00:00.000Z', note: 'x'.repeat(40), n: -0, big: 2n ** 60n, small: 5n, absent: undefined, buf: Buffer.from([1, 2, 3]) };
      const files = { files: Array.from({ length: 500 }, (_, i) => ({ id: i, kind: 'pipe', flags: i * 3, pipe: { id: i >> 1, end: i & 1 } })), objects: [] };
      w.header(header as never);
      w.tree({ tasks: [{ pid: 1, ppid: 0, children: [] }] } as never);
      w.files(files as never);
      w.ipc({ shm: [], sem: [], msg: [] } as never);
      const all = w.copied() as Buffer[];
      const image = Buffer.concat(all);
      const kept = w.knownRecords();
      expect(kept.size).toBe(4);
      for (const [at, k] of kept) {
        const length = Number(image.readBigUInt64LE(at - 8));
        expect(image.subarray(at, at + length).equals(k.bytes)).toBe(true);
        const b = decodeBudget(1 << 30);
        expect(k.value).toStrictEqual(decode(k.bytes, b));
        expect(k.charge).toBe((1 << 30) - b.left);
      }
      const values = [...kept.values()];
      expect(values[0]!.bytes.equals(encode(header as unknown as CborValue))).toBe(true);
      expect(values[2]!.bytes.equals(encode(files as unknown as CborValue))).toBe(true);
      expect((values[2]!.value as { files: unknown[] }).files).not.toBe(files.files); // a copy
    } finally {
      fs.closeSync(fd);
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('the reader takes a known record for exactly its bytes, and decodes any other', () => {
    const value = { pid: 7, vmas: [{ start: 4096, end: 8192 }] };
    const payload = encode(value);
    const frame = (p: Buffer) => {
      const f = Buffer.alloc(16);
      f.writeUInt32LE(3, 0);
      f.writeUInt32LE(crc32c(p), 4);
      f.writeBigUInt64LE(BigInt(p.length), 8);
      return Buffer.concat([f, p]);
    };
    const d = decodedCopy(value)!;
    const known = (): KnownRecords => new Map([[16, { bytes: payload, value: d.value, charge: d.charge }]]);
    const k1 = known();
    expect(new ImageReader(frame(payload), 'x', false, k1).expect(3, 'TASK').value).toBe(d.value);
    expect(k1.size).toBe(0);
    const other = encode({ pid: 8, vmas: [{ start: 4096, end: 8192 }] });
    const v2 = new ImageReader(frame(other), 'x', false, known()).expect(3, 'TASK').value;
    expect(v2).not.toBe(d.value);
    expect((v2 as { pid: number }).pid).toBe(8);
  });
});
