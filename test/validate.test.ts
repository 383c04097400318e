import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, startCase, tmpdir, verdict } from './harness.js';
import { editRecord, expectEditsRefused, inspectRefuses, KIND, mutated, recordPayload, seeded, withRecord } from './image-edit.js';

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

/** The image with its TASK payload replaced, written to a file (crc fixed, so the validator is
 * reached). */
function withTask(payload: Buffer): string {
  const p = path.join(dir, 'mut.ucr');
  fs.writeFileSync(p, withRecord(good, KIND.TASK, payload));
  return p;
}

function edit(f: (t: Record<string, any>) => void): string {
  const p = path.join(dir, 'mut.ucr');
  fs.writeFileSync(p, editRecord(good, KIND.TASK, f));
  return p;
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
    expectEditsRefused(cases, edit);
  });

  it('random payload mutations end in a clear error or a valid image, never a crash', () => {
    const base = recordPayload(good, KIND.TASK);
    const rand = seeded(987654321);
    let refused = 0;
    for (let i = 0; i < 1500; i++) if (inspectRefuses(withTask(mutated(base, rand, 4)))) refused++;
    // how many are refused depends on the machine (bytes landing in its xstate are opaque): no threshold
    console.log(`metadata fuzz: 1500 cases, ${refused} refused with one clear line, the rest valid`);
  });
});
