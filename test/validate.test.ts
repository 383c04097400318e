import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode, type CborValue } from '../src/image/cbor.js';
import { ImageError, UcrError } from '../src/errors.js';
import { crc32c } from '../src/native/addon.js';
import { inspect } from '../src/orchestrator/inspect.js';
import { checkpointCase, cleanup, startCase, tmpdir, verdict } from './harness.js';

let good: Buffer;
let dir: string;

beforeAll(async () => {
  const c = await startCase('counter');
  const img = path.join(c.dir, 'img.ucr');
  checkpointCase(c, img);
  good = fs.readFileSync(img);
  expect(await verdict(c)).toBe('PASS');
  dir = tmpdir('validate');
});
afterAll(cleanup);

/** The TASK record's frame offset and payload. */
function taskRecord(b: Buffer): { at: number; payload: Buffer } {
  for (let at = 16; at < b.length; ) {
    const len = Number(b.readBigUInt64LE(at + 8));
    if (b.readUInt32LE(at) === 3) return { at, payload: b.subarray(at + 16, at + 16 + len) };
    at += 16 + len;
  }
  throw new Error('no TASK record');
}

/** The image with its TASK payload replaced (and a correct crc, so the validator is reached). */
function withTask(payload: Buffer): string {
  const { at, payload: old } = taskRecord(good);
  const frame = Buffer.alloc(16);
  frame.writeUInt32LE(3, 0);
  frame.writeUInt32LE(crc32c(payload), 4);
  frame.writeBigUInt64LE(BigInt(payload.length), 8);
  const b = Buffer.concat([good.subarray(0, at), frame, payload, good.subarray(at + 16 + old.length)]);
  const p = path.join(dir, 'mut.ucr');
  fs.writeFileSync(p, b);
  return p;
}

function edit(f: (t: Record<string, any>) => void): string {
  const t = decode(taskRecord(good).payload) as Record<string, any>;
  f(t);
  return withTask(encode(t as CborValue));
}

describe('metadata validation', () => {
  it('names the field for impossible task state', () => {
    const cases: [string, (t: Record<string, any>) => void, RegExp][] = [
      ['overlap', (t) => (t.vmas[1].start = t.vmas[0].start), /vmas\[1\].*overlap|vmas\[1\]/],
      ['unaligned', (t) => (t.vmas[0].end += 1), /not page aligned/],
      ['kernel address', (t) => (t.vmas[0].start = 2 ** 48), /outside/],
      ['run outside', (t) => (t.pageRuns[0][0] = 0x1000), /outside any mapping that carries pages/],
      ['fd to nothing', (t) => (t.fds[0].file = 999), /unknown file 999/],
      ['short regs', (t) => (t.regs = new Uint8Array(8)), /regs: corrupt image: 8 bytes/],
      ['bad signal', (t) => t.sigactions.push({ sig: 99, handler: 0, flags: 0, restorer: 0, mask: 0 }), /sig: corrupt image: 99 is outside/],
      ['brk', (t) => (t.mm.brk = t.mm.startBrk - 4096), /brk is below start_brk/],
      ['type', (t) => (t.pid = 'one'), /pid: corrupt image: expected an integer/],
    ];
    for (const [name, f, re] of cases) {
      const p = edit(f);
      expect(() => inspect({ input: p }), name).toThrow(re);
      expect(() => inspect({ input: p }), name).toThrow(ImageError);
    }
  });

  it('random payload mutations end in a clear error, never a crash', () => {
    const base = taskRecord(good).payload;
    let rng = 987654321;
    const rand = (n: number) => ((rng = (rng * 1103515245 + 12345) & 0x7fffffff) % n);
    let ran = 0;
    let refused = 0;
    const t0 = Date.now();
    while (ran < 1500 && Date.now() - t0 < 20_000) {
      const b = Buffer.from(base);
      for (let k = 1 + rand(4); k > 0; k--) b[rand(b.length)] = rand(256);
      const p = withTask(b);
      try {
        inspect({ input: p });
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(UcrError);
        refused++;
      }
      ran++;
    }
    console.log(`metadata fuzz: ${ran} cases, ${refused} refused`);
    expect(refused).toBeGreaterThan(ran / 2);
  });
});
