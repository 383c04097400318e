/**
 * Image fuzzing: every mutated image (fuzz.ts: truncated, bits flipped, payloads replaced or
 * edited, CBOR metadata edited field by field; all but the flips resealed, checksums and trailer
 * digest made right, so the validator is reached) must end in a clear one-line error (a
 * UcrError without internal text) or be a valid image, never a crash or a hang, through the
 * real reader (inspect --verify, in this process: metadata, every page record, the trailer), and
 * for a sample through `ucr restart` end to end: one clear error line and exit 1 with no
 * process left, or a restored process. Deterministic in `npm test` (a fixed seed and case
 * count); `npm run fuzz` runs longer (UCR_FUZZ_CASES, UCR_FUZZ_SECONDS, UCR_FUZZ_RESTARTS,
 * UCR_FUZZ_SEED).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UcrError } from '../src/errors.js';
import { inspect } from '../src/orchestrator/inspect.js';
import { checkpointCase, cleanup, exists, killAndWait, startCase, ucr, type Case } from './harness.js';
import { MUTATIONS, mutate, rng } from './fuzz.js';
import { expectClear } from './image-edit.js';
import { helperPids } from './leftovers.js';

const CASES = Number(process.env.UCR_FUZZ_CASES ?? 10_000);
/** npm run fuzz: stop after this many seconds too (npm test: the case count only) */
const SECONDS = process.env.UCR_FUZZ_SECONDS === undefined ? Infinity : Number(process.env.UCR_FUZZ_SECONDS);
const SAMPLE = Number(process.env.UCR_FUZZ_RESTARTS ?? 30);
const SEED = Number(process.env.UCR_FUZZ_SEED ?? (Number.isFinite(SECONDS) ? Date.now() % 1_000_000_007 : 20240614));

let c: Case;
let good: Buffer;
let file: string;

beforeAll(async () => {
  c = await startCase('counter');
  const img = path.join(c.dir, 'good.ucr');
  checkpointCase(c, img, ['--kill']);
  await killAndWait(c.pid);
  good = fs.readFileSync(img);
  // mutated images are written to memory, not disk
  const shm = fs.existsSync('/dev/shm') ? '/dev/shm' : c.dir;
  file = path.join(shm, `ucr-fuzz-${process.pid}.ucr`);
});
afterAll(async () => {
  fs.rmSync(file, { force: true });
  await cleanup();
});

describe('image fuzzing', () => {
  it(`the reader ends every mutated image in a clear error or reads a valid one (seed ${SEED})`, () => {
    expect(inspect({ input: path.join(c.dir, 'good.ucr'), verify: true }).verified).toBe(true);
    const rand = rng(SEED);
    const t0 = Date.now();
    const by: Record<string, [number, number]> = {};
    let ran = 0;
    while (ran < CASES && Date.now() - t0 < SECONDS * 1000) {
      const how = MUTATIONS[rand(MUTATIONS.length)]!;
      const { bytes, what } = mutate(good, how, rand);
      fs.writeFileSync(file, bytes, { mode: 0o600 });
      let err: unknown;
      try {
        inspect({ input: file, verify: true });
      } catch (e) {
        err = e;
      }
      if (err !== undefined && !(err instanceof UcrError)) throw new Error(`case ${ran} (seed ${SEED}), ${what}: not a clear error: ${String((err as Error).stack ?? err)}`);
      if (err) expectClear((err as Error).message, `case ${ran} (seed ${SEED}), ${what}`);
      const n = (by[how] ??= [0, 0]);
      n[err ? 0 : 1]++;
      ran++;
    }
    console.log(`image fuzz: ${ran} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s (refused/valid: ${Object.entries(by).map(([k, [r, v]]) => `${k} ${r}/${v}`).join(', ')}; seed ${SEED})`);
    expect(ran).toBe(Number.isFinite(SECONDS) ? ran : CASES);
  }, Number.isFinite(SECONDS) ? SECONDS * 1000 + 60_000 : 600_000);

  it(`restart ends a sample of them end to end in one clear line and no process left, or restores (seed ${SEED})`, async () => {
    const rand = rng(SEED ^ 0x5a5a5a5a);
    const img = path.join(c.dir, 'mutated.ucr');
    let restored = 0;
    for (let i = 0; i < SAMPLE; i++) {
      // the mutations that reach past the checksums, most of all the structure-aware ones
      const { bytes, what } = mutate(good, (['struct', 'struct', 'cbor', 'payload', 'truncate'] as const)[i % 5], rand);
      fs.writeFileSync(img, bytes, { mode: 0o600 });
      const r = ucr(['restart', '-i', img, '--detach']);
      if (r.code === 0) {
        restored++;
        await killAndWait(c.pid);
      } else {
        expect(r.code, `${what}: ${r.stderr}`).toBe(1);
        expect(r.stderr, what).toMatch(/^ucr: /);
        expectClear(r.stderr, what);
      }
      expect(exists(c.pid), `${what}: pid ${c.pid} left`).toBe(false);
      expect(helperPids(), what).toEqual([]);
    }
    console.log(`image fuzz: ${SAMPLE} mutated images through ucr restart: ${SAMPLE - restored} refused with one clear line, ${restored} restored; no process left`);
  }, SAMPLE * 30_000);
});
