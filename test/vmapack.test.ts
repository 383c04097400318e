/**
 * Format 1.6 (src/image/vma-pack.ts): a task's plain anonymous mappings and its page runs packed
 * into byte strings. A process of many mappings of every usual sort comes back the same (one-page
 * mappings filled without the userfaultfd, many records per process_vm_writev from tmpfs); an
 * older minor holding them, and bad entries, are refused in one line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../src/image/cbor.js';
import { Where } from '../src/image/check.js';
import { checkRuns, checkVmas } from '../src/image/validate-vmas.js';
import { packTask, unpackRuns, unpackVmas, VMAP_MIN } from '../src/image/vma-pack.js';
import type { TaskImage, VmaImage } from '../src/image/types.js';
import { checkPacked, keepPacked, otherVmas, packedRunsOf, packedVmasOf, runPages } from '../src/image/packed-task.js';
import { readMetadata } from '../src/image/reader.js';
import { planLines, planRestart } from '../src/orchestrator/restart-plan.js';
import { checkpointCase, cleanup, exists, killAndWait, restartDetached, startCase, ucr, verdict } from './harness.js';

const shm: string[] = [];
afterAll(() => {
  for (const d of shm) fs.rmSync(d, { recursive: true, force: true });
  cleanup();
});

const P = 4096;
const anon = (start: number, pages: number, o: Partial<VmaImage> = {}): VmaImage => ({ start, end: start + pages * P, prot: 3, shared: false, kind: 'anon', pgoff: 0, madv: 0, fill: true, ...o });

/** A task of n one-page mappings with holes, of every sort, and a file mapping among them. */
function sample(n: number): TaskImage {
  const vmas: VmaImage[] = [];
  for (let i = 0; i < n; i++) vmas.push(anon(0x10000000 + 2 * i * P, 1, { prot: i % 8, fill: i % 3 !== 1, madv: (i * 37) & 0x3fff, kind: (['anon', 'heap', 'stack'] as const)[i % 3] }));
  vmas.splice(5, 0, { start: 0x10000000 + 9 * P, end: 0x10000000 + 10 * P, prot: 5, shared: false, kind: 'file', path: '/usr/lib/x', pgoff: 3, madv: 0, fill: false, file: { size: 1, mtimeMs: 2, ino: 3, dev: 4 } });
  vmas.push(anon(2 ** 46, 3, { pgoff: 2 ** 40 }));
  return { vmas, pageRuns: vmas.filter((v) => v.fill).map((v) => [v.start, (v.end - v.start) / P] as [number, number]) } as unknown as TaskImage;
}

/** What the reader makes of a TASK record's mappings and runs (validate.ts). */
function read(raw: Record<string, unknown>) {
  const w = new Where('TASK 1');
  const rest = checkVmas(raw.vmas as never, w.at('vmas'));
  const vmas = raw.vmap === undefined ? rest : unpackVmas(raw.vmap as never, rest, w.at('vmap'));
  return { vmas, runs: checkRuns(raw.runp === undefined ? (raw.pageRuns as never) : unpackRuns(raw.runp as never, w.at('runp')), vmas, w.at('runp')) };
}

const roundTrip = (t: TaskImage) => decode(encode(packTask(t) as never)) as Record<string, unknown>;

describe('packed mappings (format 1.6)', () => {
  it('read back exactly as the maps they replace, in address order with the others; fewer than VMAP_MIN stay maps', () => {
    const t = sample(200);
    const raw = roundTrip(t);
    expect(raw.vmap).toBeInstanceOf(Uint8Array);
    expect(raw.pageRuns).toBeUndefined();
    expect((raw.vmas as unknown[]).length).toBe(1); // the file mapping
    const plain = decode(encode(t as never)) as Record<string, unknown>; // as 1.5 wrote it
    expect(read(raw)).toEqual(read(plain));
    expect(read(raw).vmas).toHaveLength(t.vmas.length);
    const small = roundTrip(sample(VMAP_MIN - 2));
    expect(small.vmap).toBeUndefined();
    expect(small.runp).toBeUndefined();
  });

  it('refuses entries out of bounds, out of order, overlapping the others, or cut short, naming where', () => {
    const raw = roundTrip(sample(100));
    const bad = (edit: (q: Uint32Array, b: Uint8Array) => Uint8Array | void) => {
      const b = new Uint8Array(raw.vmap as Uint8Array);
      const out = edit(new Uint32Array(b.buffer), b) ?? b;
      return () => read({ ...raw, vmap: out });
    };
    expect(bad((q) => void (q[8 * 3] = 5))).toThrow(/TASK 1\.vmap\[3\]: corrupt image: 0x5-0x.* is not a page-aligned range/);
    expect(bad((q) => void (q[8 * 4 + 1] = 0x8000))).toThrow(/vmap\[4\]: corrupt image: .*not a page-aligned range of the user address space/);
    expect(bad((q) => void (q[8 * 6 + 6] |= 8 << 16))).toThrow(/vmap\[6\]: corrupt image: a field is out of its bounds/); // prot 8
    expect(bad((q) => void (q[8 * 6 + 6] |= 3 << 26))).toThrow(/vmap\[6\]: corrupt image: a field is out of its bounds/); // kind 3
    expect(bad((q) => void (q[8 * 7 + 7] = 1))).toThrow(/vmap\[7\]: corrupt image: a field is out of its bounds/);
    expect(bad((q) => void (q[8 * 2] = q[8 * 1]!))).toThrow(/vmap\[2\]: corrupt image: mappings overlap or are out of order/);
    // over the file mapping (kept in vmas) at 0x10009000
    expect(bad((q) => void ((q[8 * 4] = 0x10009000), (q[8 * 4 + 2] = 0x1000a000)))).toThrow(/overlap or are out of order/);
    expect(bad((_q, b) => b.subarray(0, 40))).toThrow(/vmap: corrupt image: 40 bytes, not whole entries of 32/);
    expect(() => read({ ...raw, runp: (raw.runp as Uint8Array).subarray(0, 24) })).toThrow(/runp: corrupt image: 24 bytes, not whole entries of 16/);
  });

  it('are kept packed by the reader exactly when they pass those checks, and make the same objects when asked (packed-task.ts)', () => {
    const raw = roundTrip(sample(200));
    const rest = checkVmas(raw.vmas as never, new Where('TASK 1').at('vmas'));
    const p = checkPacked(raw.vmap, rest, raw.runp)!;
    expect(p).toBeDefined();
    const t = { vmas: [], pageRuns: [] } as unknown as TaskImage;
    keepPacked(t, p);
    const want = read(raw);
    expect(otherVmas(t)).toBe(rest);
    expect(runPages(t)).toBe(want.runs.reduce((s, r) => s + r[1], 0));
    expect(t.vmas).toEqual(want.vmas);
    expect(t.pageRuns).toEqual(want.runs);
    expect(packedVmasOf(t)).toBeUndefined(); // the objects from now on
    expect(packedRunsOf(t)).toBeUndefined();
    // anything unpackVmas or checkRuns refuses is left to them (their messages, above)
    const refused = (edit: (q: Uint32Array, r: Uint32Array) => void) => {
      const b = new Uint8Array(raw.vmap as Uint8Array);
      const r = new Uint8Array(raw.runp as Uint8Array);
      edit(new Uint32Array(b.buffer), new Uint32Array(r.buffer));
      let usual = true; // what the usual path makes of it
      try {
        read({ ...raw, vmap: b, runp: r });
      } catch {
        usual = false;
      }
      const kept = checkPacked(b, rest, r);
      expect(kept !== undefined).toBe(usual);
      return kept;
    };
    expect(refused(() => {})).toBeDefined();
    for (const edit of [
      (q: Uint32Array) => void (q[8 * 3] = 5),
      (q: Uint32Array) => void (q[8 * 4 + 1] = 0x8000),
      (q: Uint32Array) => void (q[8 * 6 + 6] |= 8 << 16),
      (q: Uint32Array) => void (q[8 * 6 + 6] |= 3 << 26),
      (q: Uint32Array) => void (q[8 * 6 + 5] = 0x200000), // pgoff over 2^53
      (q: Uint32Array) => void (q[8 * 7 + 7] = 1),
      (q: Uint32Array) => void (q[8 * 2] = q[8 * 1]!),
      (q: Uint32Array) => void ((q[8 * 4] = 0x10009000), (q[8 * 4 + 2] = 0x1000a000)),
      (_q: Uint32Array, r: Uint32Array) => void (r[4 * 2] = r[4 * 1]!), // runs out of order
      (_q: Uint32Array, r: Uint32Array) => void (r[4 * 3 + 2] = 2), // a run past its mapping
      (_q: Uint32Array, r: Uint32Array) => void (r[4 * 5] += 4096), // a run in the hole after it
      (_q: Uint32Array, r: Uint32Array) => void (r[4 * 5 + 2] = 0),
    ])
      expect(refused(edit)).toBeUndefined();
    expect(checkPacked((raw.vmap as Uint8Array).subarray(0, 40), rest, raw.runp)).toBeUndefined();
    expect(checkPacked(raw.vmap, rest, (raw.runp as Uint8Array).subarray(0, 24))).toBeUndefined();
  });
});

describe('a process of many small mappings', () => {
  // on disk the reader pipeline reads the pages, on tmpfs the two lanes (small records in groups)
  it.each(['disk', 'tmpfs'])('comes back with the same layout, VmFlags and contents (image format 1.6, on %s); the same image called 1.5 is refused in one line', async (where) => {
    const c = await startCase('manymaps');
    const dir = where === 'disk' ? c.dir : fs.mkdtempSync('/dev/shm/ucr-vmapack-');
    if (where === 'tmpfs') shm.push(dir);
    const img = path.join(dir, 'image.ucr');
    expect(checkpointCase(c, img, ['--kill']).code).toBe(0);
    await killAndWait(c.pid);
    expect(ucr(['inspect', img]).stdout).toMatch(/ucr format 1\.6,/);
    // the restart's plan from the packed forms is the plan made from the objects
    const lines = (objects: boolean) => {
      const fd = fs.openSync(img, 'r');
      try {
        const { meta } = readMetadata(fd, img);
        expect(meta.tasks.some((t) => packedVmasOf(t) && packedRunsOf(t))).toBe(true);
        if (objects) for (const t of meta.tasks) expect(t.vmas.length + t.pageRuns.length).toBeGreaterThan(0);
        return [...planLines(meta, planRestart(meta, {}), {}, { workers: 1, pidWaitMs: 0, spool: false, trusted: false, elapsedMs: 0 })].flat();
      } finally {
        fs.closeSync(fd);
      }
    };
    expect(lines(false)).toEqual(lines(true));
    const old = fs.readFileSync(img);
    old.writeUInt32LE(5, 12);
    const oldImg = path.join(dir, 'old.ucr');
    fs.writeFileSync(oldImg, old);
    const r = ucr(['restart', '-i', oldImg, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/packed mappings in a format 1\.5 image/);
    expect(exists(c.pid)).toBe(false);
    expect(restartDetached(img).code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});
