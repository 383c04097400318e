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
import { checkpointKill, cleanup, exists, killAndWait, startCase, ucr, type Case } from './harness.js';
import { MUTATIONS, mutate, rng } from './fuzz.js';
import { editRecord, expectClear, KIND, resealed } from './image-edit.js';
import { helperPids } from './leftovers.js';

const CASES = Number(process.env.UCR_FUZZ_CASES ?? 10_000);
/** npm run fuzz: stop after this many seconds too (npm test: the case count only) */
const SECONDS = process.env.UCR_FUZZ_SECONDS === undefined ? Infinity : Number(process.env.UCR_FUZZ_SECONDS);
const SAMPLE = Number(process.env.UCR_FUZZ_RESTARTS ?? 30);
const SEED = Number(process.env.UCR_FUZZ_SEED ?? (Number.isFinite(SECONDS) ? Date.now() % 1_000_000_007 : 20240614));

/** The image of a case's checkpoint (--kill), and a file in memory for its mutations. */
interface Subject {
  c: Case;
  /** the pids of its tree */
  pids: number[];
  good: Buffer;
  file: string;
}

async function subject(name: string): Promise<Subject> {
  const c = await startCase(name);
  const img = path.join(c.dir, 'good.ucr');
  const pids = await checkpointKill(c, img);
  // mutated images are written to memory, not disk
  const shm = fs.existsSync('/dev/shm') ? '/dev/shm' : c.dir;
  return { c, pids, good: fs.readFileSync(img), file: path.join(shm, `ucr-fuzz-${process.pid}-${name}.ucr`) };
}

/** Every mutated image ends in a clear error or reads as a valid one (inspect --verify). */
function readerFuzz(s: Subject, cases: number, seed: number): void {
  expect(inspect({ input: path.join(s.c.dir, 'good.ucr'), verify: true }).verified).toBe(true);
  const rand = rng(seed);
  const t0 = Date.now();
  const by: Record<string, [number, number]> = {};
  let ran = 0;
  while (ran < cases && Date.now() - t0 < SECONDS * 1000) {
    const how = MUTATIONS[rand(MUTATIONS.length)]!;
    const { bytes, what } = mutate(s.good, how, rand);
    fs.writeFileSync(s.file, bytes, { mode: 0o600 });
    let err: unknown;
    try {
      inspect({ input: s.file, verify: true });
    } catch (e) {
      err = e;
    }
    if (err !== undefined && !(err instanceof UcrError)) throw new Error(`case ${ran} (seed ${seed}), ${what}: not a clear error: ${String((err as Error).stack ?? err)}`);
    if (err) expectClear((err as Error).message, `case ${ran} (seed ${seed}), ${what}`);
    const n = (by[how] ??= [0, 0]);
    n[err ? 0 : 1]++;
    ran++;
  }
  console.log(`image fuzz: ${ran} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s (refused/valid: ${Object.entries(by).map(([k, [r, v]]) => `${k} ${r}/${v}`).join(', ')}; seed ${seed})`);
  expect(ran).toBe(Number.isFinite(SECONDS) ? ran : cases);
}

/** A sample through ucr restart: one clear line and no process left, or restored. */
async function restartFuzz(s: Subject, sample: number, seed: number): Promise<void> {
  const rand = rng(seed ^ 0x5a5a5a5a);
  const img = path.join(s.c.dir, 'mutated.ucr');
  let restored = 0;
  for (let i = 0; i < sample; i++) {
    // the mutations that reach past the checksums, most of all the structure-aware ones
    const { bytes, what } = mutate(s.good, (['struct', 'struct', 'cbor', 'payload', 'truncate'] as const)[i % 5], rand);
    fs.writeFileSync(img, bytes, { mode: 0o600 });
    const r = ucr(['restart', '-i', img, '--detach']);
    if (r.code === 0) {
      restored++;
      for (const p of s.pids) await killAndWait(p);
    } else {
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      expect(r.stderr, what).toMatch(/^ucr: /);
      expectClear(r.stderr, what);
    }
    for (const p of s.pids) expect(exists(p), `${what}: pid ${p} left`).toBe(false);
    expect(helperPids(), what).toEqual([]);
  }
  console.log(`image fuzz: ${sample} mutated images through ucr restart: ${sample - restored} refused with one clear line, ${restored} restored; no process left`);
}

const subjects: Subject[] = [];
afterAll(async () => {
  for (const s of subjects) fs.rmSync(s.file, { force: true });
  await cleanup();
});

const READER_TIMEOUT = Number.isFinite(SECONDS) ? SECONDS * 1000 + 60_000 : 600_000;

/** The tests of one subject (test case `name`'s image): its mutations through the reader, a
 * sample through restart; minor: the image's format minor, checked first; more: its own tests. */
function fuzzing(title: string, name: string, o: { cases: number; sample: number; seed: number; minor?: number }, more?: (s: () => Subject) => void): void {
  describe(title, () => {
    let s: Subject;
    beforeAll(async () => {
      subjects.push((s = await subject(name)));
    });

    it(`the reader ends every mutated image in a clear error or reads a valid one (seed ${SEED})`, () => {
      if (o.minor !== undefined) expect(s.good.readUInt32LE(12)).toBe(o.minor);
      readerFuzz(s, o.cases, o.seed);
    }, READER_TIMEOUT);

    it(`restart ends a sample of them end to end in one clear line and no process left, or restores (seed ${SEED})`, () => restartFuzz(s, o.sample, o.seed), SAMPLE * 30_000);

    more?.(() => s);
  });
}

fuzzing('image fuzzing', 'counter', { cases: CASES, sample: SAMPLE, seed: SEED });

// format 1.8: packed fd tables, parts taken from the parent's record, an XSAVE area without its
// final zeros (two processes of ~160 fds each: test/cases/fdtable.c)
fuzzing('image fuzzing, format 1.8', 'fdtable', { cases: Math.ceil(CASES / 4), sample: Math.ceil(SAMPLE / 3), seed: SEED + 1, minor: 8 }, (s) => {
  // found by the fuzzer: bit 31 in a pipe end's open flags became a negative number in the
  // helper's plan line (JavaScript's bitwise operators are 32-bit signed)
  it('open flags with bit 31 set are refused naming the field; bit 30 reads', () => {
    type F = { kind: string; flags: number };
    for (const [bit, refused] of [[31, true], [30, false]] as const) {
      const edited = editRecord(s().good, KIND.FILES, (r) => {
        for (const f of r.files as F[]) if (f.kind === 'pipe') f.flags += 2 ** bit;
      });
      fs.writeFileSync(s().file, resealed(edited), { mode: 0o600 });
      const run = () => inspect({ input: s().file, verify: true });
      if (refused) expect(run).toThrow(/files\[\d+\]\.flags: corrupt image: \d+ is outside 0\.\.2147483647/);
      else expect(run().verified).toBe(true);
    }
  });
});

// npm run fuzz: more subjects, named in UCR_FUZZ_SUBJECTS (test/cases, e.g. epoll,inotify,unixsock)
for (const [k, name] of (process.env.UCR_FUZZ_SUBJECTS ?? '').split(',').filter(Boolean).entries())
  fuzzing(`image fuzzing, ${name}`, name, { cases: CASES, sample: SAMPLE, seed: SEED + 2 + k });
