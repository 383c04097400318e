/**
 * Format 1.10 (src/image/file-vma-pack.ts): a task's file mappings packed into a byte string
 * (TASK `fmap`) with the files they map listed once (`ftab`). A process with 48 file mappings of
 * every usual sort (private, written, shared and written, executable, with advice, at offsets)
 * comes back exactly (test/cases/filemaps.c); fewer stay maps in an older minor; bad entries,
 * bad files and an older minor holding them are refused in one line naming what is wrong.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../src/image/cbor.js';
import { Where } from '../src/image/check.js';
import { checkOtherVmas, FMAP_MIN, packFileVmas } from '../src/image/file-vma-pack.js';
import type { VmaImage } from '../src/image/types.js';
import { inspect } from '../src/orchestrator/inspect.js';
import { checkpointCase, cleanup, killAndWait, restartDetached, startCase, ucr, verdict } from './harness.js';
import { editRecord, expectRestartsRefused, inspectRefuses, KIND, mutated, recordPayload, resealed, seeded } from './image-edit.js';

afterAll(cleanup);

const P = 4096;
const file = (start: number, pages: number, f: number, o: Partial<VmaImage> = {}): VmaImage => ({
  start,
  end: start + pages * P,
  prot: 1,
  shared: false,
  kind: 'file',
  path: `/usr/lib/lib${f}.so`,
  pgoff: f * 3,
  file: { size: 100 + f, mtimeMs: 1700000000000 + f, ino: 50 + f, ...(f % 2 ? { dev: 2049 } : {}) },
  madv: 0,
  fill: false,
  ...o,
});

/** n file mappings of 5 files with holes, of every sort, and other mappings among them. */
function sample(n: number): { vmas: VmaImage[] } {
  const vmas: VmaImage[] = [];
  for (let i = 0; i < n; i++) vmas.push(file(0x20000000 + 4 * i * P, 1 + (i % 3), i % 5, { prot: i % 8, shared: i % 4 === 3, fill: i % 4 === 1, madv: (i * 37) & 0x3fff, pgoff: i * 7 }));
  vmas.splice(4, 0, { start: 0x20000000 + 13 * P, end: 0x20000000 + 14 * P, prot: 3, shared: false, kind: 'anon', path: undefined, pgoff: 0, file: undefined, madv: 0, fill: true });
  vmas.push({ start: 2 ** 46, end: 2 ** 46 + P, prot: 3, shared: true, kind: 'object', path: '/memfd:x (deleted)', pgoff: 0, obj: 7, madv: 0, fill: false });
  return { vmas };
}

/** What the reader makes of a record's mappings (validate.ts). */
const read = (raw: Record<string, unknown>): VmaImage[] => checkOtherVmas(raw as never, new Where('TASK 1'));

const roundTrip = (t: { vmas: VmaImage[] }) => decode(encode(packFileVmas(t) as never)) as Record<string, unknown>;

describe('packed file mappings (format 1.10)', () => {
  it('read back exactly as the maps they replace, merged in address order with the others; each file listed once; fewer than FMAP_MIN stay maps', () => {
    const t = sample(60);
    const raw = roundTrip(t);
    expect(raw.fmap).toBeInstanceOf(Uint8Array);
    expect((raw.fmap as Uint8Array).length).toBe(60 * 32);
    expect(raw.ftab).toHaveLength(5);
    expect((raw.vmas as unknown[]).length).toBe(2); // the anonymous and the object mappings
    const plain = decode(encode(t as never)) as Record<string, unknown>; // as 1.9 wrote it
    expect(read(raw)).toEqual(read(plain));
    expect(read(raw)).toHaveLength(62);
    const small = roundTrip(sample(FMAP_MIN - 1));
    expect(small.fmap).toBeUndefined();
    expect(small.ftab).toBeUndefined();
    // a mapping the entry cannot hold exactly stays a map
    const odd = sample(40);
    odd.vmas[10]!.file = undefined;
    const r = roundTrip(odd);
    expect((r.vmas as VmaImage[]).some((v) => v.kind === 'file' && v.file === undefined)).toBe(true);
    expect(read(r)).toEqual(read(decode(encode(odd as never)) as Record<string, unknown>));
  });

  it('refuses entries out of bounds, out of order, overlapping the others, naming no file, or cut short; and bad files', () => {
    const raw = roundTrip(sample(50));
    const bad = (edit: (q: Uint32Array, b: Uint8Array) => Uint8Array | void, ftab = raw.ftab) => {
      const b = new Uint8Array(raw.fmap as Uint8Array);
      const out = edit(new Uint32Array(b.buffer), b) ?? b;
      return () => read({ ...raw, fmap: out, ftab });
    };
    expect(bad((q) => void (q[8 * 3] = 5))).toThrow(/TASK 1\.fmap\[3\]: corrupt image: 0x5-0x.* is not a page-aligned range/);
    expect(bad((q) => void (q[8 * 4 + 3] = 0x8000))).toThrow(/fmap\[4\]: corrupt image: .*not a page-aligned range of the user address space/);
    expect(bad((q) => void (q[8 * 6 + 6] |= 8 << 16))).toThrow(/fmap\[6\]: corrupt image: a field is out of its bounds/); // prot 8
    expect(bad((q) => void (q[8 * 6 + 6] |= 4 << 24))).toThrow(/fmap\[6\]: corrupt image: a field is out of its bounds/); // an unknown bit
    expect(bad((q) => void (q[8 * 7 + 7] = 5))).toThrow(/fmap\[7\]: corrupt image: file 5 is not in ftab \(5 files\)/);
    expect(bad((q) => void (q[8 * 2] = q[8 * 1]!))).toThrow(/fmap\[2\]: corrupt image: mappings overlap or are out of order/);
    // over the anonymous mapping (kept in vmas) at 0x2000d000
    expect(bad((q) => void ((q[8 * 3] = 0x2000d000), (q[8 * 3 + 2] = 0x2000e000)))).toThrow(/overlap or are out of order/);
    expect(bad((_q, b) => b.subarray(0, 40))).toThrow(/fmap: corrupt image: 40 bytes, not whole entries of 32/);
    expect(bad((_q, b) => b.subarray(0, 0))).toThrow(/fmap: corrupt image: 0 bytes, not whole entries of 32/);
    const tab = raw.ftab as unknown[][];
    expect(bad(() => {}, [...tab.slice(0, 4), ['', 1, 2, 3]])).toThrow(/ftab\[4\]\[0\]: corrupt image: empty path/);
    expect(bad(() => {}, [...tab.slice(0, 4), ['/x\0y', 1, 2, 3]])).toThrow(/ftab\[4\]\[0\]: corrupt image: text holds a NUL character/);
    expect(bad(() => {}, [...tab.slice(0, 4), ['/x', -1, 2, 3]])).toThrow(/ftab\[4\]\[1\]: corrupt image: -1 is outside/);
    expect(bad(() => {}, [...tab.slice(0, 4), ['/x', 1, 2]])).toThrow(/ftab\[4\]: corrupt image: expected \[path, size, mtimeMs, ino\]/);
    expect(bad(() => {}, [...tab.slice(0, 4), ['/x', 1, 2, 3, 4, 5]])).toThrow(/ftab\[4\]: corrupt image: expected \[path/);
    expect(bad(() => {}, [])).toThrow(/ftab: corrupt image: 0 files/);
    expect(bad(() => {}, 'x' as never)).toThrow(/ftab: corrupt image: expected an array/);
    expect(() => read({ ...raw, fmap: 'x' })).toThrow(/fmap: corrupt image: expected bytes/);
  });

  it('a process with 48 file mappings of every usual sort: a 1.10 image with them packed, each back exactly (contents, maps line, file, advice, the shared writes)', async () => {
    const c = await startCase('filemaps');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    const good = fs.readFileSync(img);
    expect(good.readUInt32LE(12)).toBe(10);
    const rec = decode(recordPayload(good, KIND.TASK)) as Record<string, unknown>;
    expect((rec.fmap as Uint8Array).length / 32).toBeGreaterThanOrEqual(48);
    expect((rec.ftab as unknown[][]).map((f) => f[0]).filter((p) => String(p).startsWith(c.out))).toHaveLength(4);
    // the mappings as the reader gives them: every one of the case's files, at its offsets
    const vmas = inspect({ input: img }).meta.tasks[0]!.vmas.filter((v) => v.path?.startsWith(`${c.out}.f`));
    expect(vmas).toHaveLength(48);
    expect(new Set(vmas.map((v) => v.pgoff / P))).toEqual(new Set([0, 5, 10, 2, 7, 12, 4, 9, 1, 6, 11, 3, 8, 13]));
    expect(vmas.filter((v) => v.shared)).toHaveLength(12);
    expect(vmas.filter((v) => v.fill).length).toBeGreaterThanOrEqual(12);
    await killAndWait(c.pid);
    // an older minor holding them, and a record whose mappings are also its parent's, refused
    const old = Buffer.from(good);
    old.writeUInt32LE(9, 12);
    expect(ucr(['inspect', (fs.writeFileSync(`${c.dir}/old.ucr`, old), `${c.dir}/old.ucr`)]).stderr).toMatch(/TASK \d+: packed file mappings in a format 1\.9 image/);
    expectRestartsRefused(c.dir, c.pid, [
      ['1.9', old, /packed file mappings in a format 1\.9 image/],
      ['ftab gone', resealed(editRecord(good, KIND.TASK, (r) => delete r.ftab)), /packed file mappings \(fmap\) and their files \(ftab\) go together/],
      ['a file out of the table', resealed(editRecord(good, KIND.TASK, (r) => new Uint32Array(r.fmap.buffer, r.fmap.byteOffset, 8).fill(0xffff, 7, 8))), /fmap\[0\]: corrupt image: file 65535 is not in ftab/],
    ]);
    // random bytes of the packed entries and of the table: refused in one clear line or valid,
    // never anything else (inspectRefuses)
    const rand = seeded(1010);
    for (let k = 0; k < 150; k++) {
      const p = `${c.dir}/mut.ucr`;
      fs.writeFileSync(p, resealed(editRecord(good, KIND.TASK, (r) => {
        if (k % 3) r.fmap = mutated(r.fmap, rand, 6);
        else {
          const odd = [-1, '', 'x', 2 ** 60, null, [], 1.5, true, new Uint8Array(2)];
          const e = r.ftab[rand(r.ftab.length)];
          if (rand(4)) e[rand(e.length)] = odd[rand(odd.length)];
          else e.length = rand(7);
        }
      })));
      inspectRefuses(p);
    }
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a process with fewer file mappings than FMAP_MIN keeps them as maps (an older minor)', async () => {
    const c = await startCase('filemaps', { args: ['--maps', '12'] });
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    const good = fs.readFileSync(img);
    expect(good.readUInt32LE(12)).toBeLessThan(10);
    expect((decode(recordPayload(good, KIND.TASK)) as Record<string, unknown>).fmap).toBeUndefined();
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });
});
