/**
 * Image fuzzing: every mutated image (fuzz.ts) must end in a clear error (a UcrError), never a
 * crash or a hang, through the real reader (inspect --verify, in this process: metadata,
 * every page record, the trailer), and for a sample through `ucr restart` end to end: one error
 * line, exit 1, and no process left. Bounded in `npm test` (10,000 cases or 60 s, whichever
 * comes first); `npm run fuzz` runs longer (UCR_FUZZ_CASES, UCR_FUZZ_SECONDS, UCR_FUZZ_SEED).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UcrError } from '../src/errors.js';
import { inspect } from '../src/orchestrator/inspect.js';
import { checkpointCase, cleanup, exists, killAndWait, startCase, ucr, type Case } from './harness.js';
import { MUTATIONS, mutate, rng } from './fuzz.js';
import { helperPids } from './leftovers.js';

const CASES = Number(process.env.UCR_FUZZ_CASES ?? 10_000);
const SECONDS = Number(process.env.UCR_FUZZ_SECONDS ?? 60);
const SAMPLE = Number(process.env.UCR_FUZZ_RESTARTS ?? 24);
const SEED = Number(process.env.UCR_FUZZ_SEED ?? Date.now() % 1_000_000_007);

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
  it(`the reader refuses every mutated image with a clear error (seed ${SEED})`, () => {
    expect(inspect({ input: path.join(c.dir, 'good.ucr'), verify: true }).verified).toBe(true);
    const rand = rng(SEED);
    const t0 = Date.now();
    const by: Record<string, number> = {};
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
      if (!(err instanceof UcrError)) throw new Error(`case ${ran} (seed ${SEED}), ${what}: ${err ? `not a clear error: ${String((err as Error).stack ?? err)}` : 'accepted'}`);
      expect((err as Error).message, what).not.toMatch(/\n/);
      by[how] = (by[how] ?? 0) + 1;
      ran++;
    }
    console.log(`image fuzz: ${ran} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s, all refused (${Object.entries(by).map(([k, v]) => `${k} ${v}`).join(', ')}; seed ${SEED})`);
    expect(ran).toBeGreaterThan(Math.min(CASES, 500));
  }, SECONDS * 1000 + 60_000);

  it(`restart refuses a sample of them end to end with one line and leaves no process (seed ${SEED})`, () => {
    const rand = rng(SEED ^ 0x5a5a5a5a);
    const img = path.join(c.dir, 'mutated.ucr');
    for (let i = 0; i < SAMPLE; i++) {
      const { bytes, what } = mutate(good, MUTATIONS[i % MUTATIONS.length]!, rand);
      fs.writeFileSync(img, bytes, { mode: 0o600 });
      const r = ucr(['restart', '-i', img, '--detach']);
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      expect(r.stderr.trim().split('\n'), what).toHaveLength(1);
      expect(r.stderr, what).toMatch(/^ucr: /);
      expect(exists(c.pid), `${what}: pid ${c.pid} left`).toBe(false);
      expect(helperPids(), what).toEqual([]);
    }
    console.log(`image fuzz: ${SAMPLE} mutated images refused by ucr restart, no process left`);
  }, SAMPLE * 30_000);
});
