/**
 * Format 1.8 (src/image/same-parts.ts): a forked child's TASK record leaves out the parts equal
 * to its parent's (`same` names them) and the reader takes them from the parent. The tasks read
 * are the ones the full records give, field for field, and so is the restart plan; the tree
 * comes back and checks itself; a record naming parts wrongly is refused in one line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode, type CborValue } from '../src/image/cbor.js';
import { readMetadata } from '../src/image/reader.js';
import { SAME_PARTS } from '../src/image/same-parts.js';
import { planLines, planRestart } from '../src/orchestrator/restart-plan.js';
import { cleanup, killedCase, restartDetached, ucr, verdict } from './harness.js';
import { expectRestartsRefused, frames, KIND, recordPayload, resealed } from './image-edit.js';
import { crc32c } from '../src/native/addon.js';

afterEach(cleanup);

type Rec = Record<string, CborValue>;

/** The image with every TASK record changed by edit(record, the records before it by pid, the
 * TREE's ppid of each pid); checksums and the trailer's digest made again. */
function editTasks(b: Buffer, edit: (r: Rec, before: Map<number, Rec>, ppid: Map<number, number>) => void): Buffer {
  const parts: Buffer[] = [b.subarray(0, 16)];
  const before = new Map<number, Rec>();
  let ppid = new Map<number, number>();
  for (const f of frames(b)) {
    let payload = b.subarray(f.at + 16, f.at + 16 + f.len);
    if (f.kind === KIND.TREE) ppid = new Map(((decode(payload) as Rec).tasks as Rec[]).map((t) => [t.pid as number, t.ppid as number]));
    if (f.kind === KIND.TASK) {
      const r = decode(payload) as Rec;
      const orig = structuredClone(r);
      edit(r, before, ppid);
      before.set(r.pid as number, orig);
      payload = Buffer.from(encode(r));
    }
    const head = Buffer.alloc(16);
    head.writeUInt32LE(f.kind, 0);
    head.writeUInt32LE(crc32c(payload), 4);
    head.writeBigUInt64LE(BigInt(payload.length), 8);
    parts.push(head, payload);
  }
  return resealed(Buffer.concat(parts));
}

/** Each record with its parent's parts put back in it (as a 1.7 writer wrote it). */
const expanded = (b: Buffer) =>
  editTasks(b, (r, before, ppid) => {
    const same = (r.same as string[] | undefined) ?? [];
    const p = before.get(ppid.get(r.pid as number)!);
    for (const k of same) r[k] = resolve(p!, k, before, ppid);
    delete r.same;
  });
/** A part of a raw record, through its own parent's when it took it from there. */
function resolve(r: Rec, k: string, before: Map<number, Rec>, ppid: Map<number, number>): CborValue {
  if (r[k] !== undefined) return r[k]!;
  return resolve(before.get(ppid.get(r.pid as number)!)!, k, before, ppid);
}

function meta(img: string) {
  const fd = fs.openSync(img, 'r');
  try {
    return readMetadata(fd, img).meta;
  } finally {
    fs.closeSync(fd);
  }
}

describe("a task's parts taken from its parent's record (format 1.8)", () => {
  it("a tree's children leave their parent's parts out; read, they are the tasks of the full records, field for field, and the plan is the same line for line; the tree comes back and checks itself", async () => {
    const { c, img } = await killedCase('tree');
    const good = fs.readFileSync(img);
    expect(ucr(['inspect', img]).stdout).toMatch(/ucr format 1\.8,/);
    const sames = frames(good)
      .filter((f) => f.kind === KIND.TASK)
      .map((f) => (decode(good.subarray(f.at + 16, f.at + 16 + f.len)) as Rec).same as string[] | undefined);
    expect(sames[0]).toBeUndefined(); // the root's parent is not in the image
    expect(sames.filter((s) => s?.includes('vmas') && s.includes('pageRuns') && s.includes('sigactions') && s.includes('creds')).length).toBeGreaterThan(0);
    const full = path.join(c.dir, 'full.ucr');
    fs.writeFileSync(full, expanded(good));
    expect(frames(fs.readFileSync(full)).length).toBe(frames(good).length);
    const a = meta(img);
    const b = meta(full);
    expect(a.tasks.length).toBe(b.tasks.length);
    for (let i = 0; i < a.tasks.length; i++) {
      for (const k of [...SAME_PARTS, 'pid', 'regs', 'xstate', 'fds', 'threads', 'signals', 'inherited'] as const) expect(a.tasks[i]![k], `${a.tasks[i]!.pid} ${k}`).toEqual(b.tasks[i]![k]);
    }
    const run = { workers: 1, pidWaitMs: 0, spool: false, trusted: false, elapsedMs: 0 };
    // (but the seed, which the image's digest gives)
    const lines = (m: ReturnType<typeof meta>) => [...planLines(m, planRestart(m, {}), {}, run)].flat().filter((l) => !l.startsWith('seed '));
    expect(lines(a)).toEqual(lines(b));
    expect(restartDetached(img).code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a record naming its parts wrongly is refused in one line, naming it: an unknown part, one twice, one also in the record, runs without mappings, the root (no parent record), packed mappings, a format 1.7 image', async () => {
    const { c, img } = await killedCase('tree');
    const good = fs.readFileSync(img);
    /** edits the first record that takes vmas from its parent */
    const firstSame = (f: (r: Rec, parent: Rec) => void) => {
      let done = false;
      return editTasks(good, (r, before, ppid) => {
        if (done || !(r.same as string[] | undefined)?.includes('vmas')) return;
        done = true;
        f(r, before.get(ppid.get(r.pid as number)!)!);
      });
    };
    const cases: [string, Buffer, RegExp][] = [
      ['unknown part', firstSame((r) => (r.same = [...(r.same as string[]), 'regs'])), /TASK \d+\.same\[\d+\]: corrupt image: not a part a task takes from its parent: "regs"/],
      ['twice', firstSame((r) => (r.same = [...(r.same as string[]), 'vmas'])), /TASK \d+\.same\[\d+\]: corrupt image: vmas twice/],
      ['also in the record', firstSame((r, p) => (r.vmas = p.vmas!)), /TASK \d+\.same\[0\]: corrupt image: vmas is also in the record/],
      [
        'runs alone',
        firstSame((r, p) => {
          r.same = [...(r.same as string[]).filter((k) => k !== 'vmas' && k !== 'pageRuns'), 'pageRuns'];
          r.vmas = p.vmas!;
          delete r.pageRuns;
        }),
        /TASK \d+\.same: corrupt image: pageRuns without vmas/,
      ],
      ['not a list', firstSame((r) => (r.same = 'vmas')), /TASK \d+\.same: corrupt image: expected a list/],
      ['packed', firstSame((r) => (r.vmap = new Uint8Array(32))), /TASK \d+\.same: corrupt image: mappings the same as its parent's with packed mappings/],
      [
        'root',
        editTasks(good, (r, before) => {
          if (before.size > 0) return;
          r.same = ['itimers'];
          delete r.itimers;
        }),
        /TASK \d+\.same: corrupt image: parts the same as its parent's, but its parent \d+ has no task record before it/,
      ],
    ];
    // (the root's XSAVE area whole again: 1.8 leaves out its final zeros, which a 1.7 reader
    // refuses first)
    const size = ((decode(recordPayload(good, KIND.HEADER)) as Rec).cpu as Rec).xstateSize as number;
    const old = resealed(
      editTasks(good, (r, before) => {
        if (before.size > 0) return;
        const x = new Uint8Array(size);
        x.set(r.xstate as Uint8Array);
        r.xstate = x;
      }),
    );
    old.writeUInt32LE(7, 12);
    cases.push(['1.7', old, /TASK \d+: parts taken from its parent in a format 1\.7 image/]);
    expectRestartsRefused(c.dir, c.pid, cases);
  });
});
