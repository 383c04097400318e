/**
 * Format 1.8 (src/image/fd-pack.ts): a task's fd table of 64 fds or more packed into one byte
 * string (TASK `fdp`). Two processes with large, different tables of every usual kind come back
 * entry by entry; the reader takes the packed table as the same rows as the list it replaces; an
 * older minor holding one, and bad entries, are refused in one line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode } from '../src/image/cbor.js';
import { checkTask } from '../src/image/validate.js';
import { checkFdp, FDP_MIN, packFds } from '../src/image/fd-pack.js';
import { fdRows, setFdRows } from '../src/image/task-compact.js';
import { readMetadata } from '../src/image/reader.js';
import type { TaskImage } from '../src/image/types.js';
import { Where } from '../src/image/check.js';
import { cleanup, exists, killedCase, restartDetached, ucr, verdict } from './harness.js';
import { editRecord, expectRestartsRefused, KIND, resealed } from './image-edit.js';

afterEach(cleanup);

/** The TASK record of a real checkpoint (first task of an image), raw. */
function rawTask(img: string): Record<string, unknown> {
  let raw: Record<string, unknown> | undefined;
  editRecord(fs.readFileSync(img), KIND.TASK, (r) => {
    raw ??= r;
  });
  return raw!;
}

describe('packed fd tables (format 1.8)', () => {
  it('two processes with ~160 fds each (pipes, socket pairs, eventfds, files and their dups, fd 3000), their tables different, come back entry by entry: numbers, close-on-exec, access modes, shared open files, queued bytes, counters, offsets; the same image called 1.7 is refused in one line', async () => {
    const { c, img } = await killedCase('fdtable');
    expect(ucr(['inspect', img]).stdout).toMatch(/ucr format 1\.8,/);
    const raw = rawTask(img);
    expect(raw.fds).toBeUndefined();
    expect(raw.fdp).toBeInstanceOf(Uint8Array);
    // the reader's rows are the checkpoint's table, in fd order
    const fd = fs.openSync(img, 'r');
    try {
      const { meta } = readMetadata(fd, img);
      expect(meta.tasks).toHaveLength(2);
      const [root, child] = meta.tasks.map((t) => t.fds);
      expect(root!.length).toBeGreaterThan(150);
      expect(child!.length).toBeLessThan(root!.length); // its pipes closed
      expect(root!.find((f) => f.fd === 3000)?.cloexec).toBe(false);
      expect(root!.filter((f) => f.fd >= 100 && f.fd < 3000).every((f) => f.cloexec === (f.fd % 3 === 0))).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
    const old = fs.readFileSync(img);
    old.writeUInt32LE(7, 12);
    const oldImg = path.join(c.dir, 'old.ucr');
    fs.writeFileSync(oldImg, old);
    const r = ucr(['restart', '-i', oldImg, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/TASK \d+: a packed fd table in a format 1\.7 image/);
    expect(exists(c.pid)).toBe(false);
    expect(restartDetached(img).code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a table read packed gives the rows and fds of the list it replaces; fewer than FDP_MIN fds stay a list', () => {
    const table = (n: number) => Array.from({ length: n }, (_, i) => ({ fd: 3 + 2 * i + (i > 50 ? 4000 : 0), file: (i * 7) % 13, cloexec: i % 3 === 0 }));
    const task = (n: number) => {
      const t = { pid: 1, comm: 'x', fds: [] as unknown[], umask: 18 } as unknown as TaskImage;
      setFdRows(t, fdRows({ fds: table(n) } as unknown as TaskImage));
      return t;
    };
    const big = decode(encode(packFds(task(200)) as never)) as Record<string, unknown>;
    expect(Object.keys(big)).toEqual(['pid', 'comm', 'fdp', 'umask']); // in the place of fds
    expect(big.fdp).toHaveProperty('length', 200 * 12);
    expect(Array.from(checkFdp(big.fdp as never, new Where('TASK 1.fdp')))).toEqual(Array.from(fdRows({ fds: table(200) } as unknown as TaskImage)));
    const small = decode(encode(packFds(task(FDP_MIN - 1)) as never)) as Record<string, unknown>;
    expect(small.fdp).toBeUndefined();
    expect(small.fds).toEqual(table(FDP_MIN - 1));
  });

  it('bad entries are refused naming the entry: a partial entry, fds out of order or repeated, out of range, a file id out of range, unknown flags, fds and fdp both', async () => {
    const { c, img } = await killedCase('fdtable');
    const good = fs.readFileSync(img);
    const cases: [string, (rows: Int32Array, r: Record<string, unknown>) => Uint8Array | void, RegExp][] = [
      ['partial entry', (q) => new Uint8Array(q.buffer, 0, q.byteLength - 4), /TASK \d+\.fdp: corrupt image: \d+ bytes, not whole entries of 12/],
      ['out of order', (q) => void (q[3 * 5] = q[3 * 4]!), /TASK \d+\.fdp\[5\]: corrupt image: fd \d+ is out of order or appears twice/],
      ['negative fd', (q) => void (q[0] = -1), /TASK \d+\.fdp\[0\]: corrupt image: fd 4294967295 is outside 0\.\.1048575/],
      ['fd too high', (q) => void (q[q.length - 3] = 1 << 20), /fdp\[\d+\]: corrupt image: fd 1048576 is outside 0\.\.1048575/],
      ['file id', (q) => void (q[4] = -5), /TASK \d+\.fdp\[1\]: corrupt image: file 4294967291 is outside/],
      ['unknown file', (q) => void (q[4] = 99999), /TASK \d+: fd \d+ refers to unknown file 99999/],
      ['flags', (q) => void (q[2] = 3), /TASK \d+\.fdp\[0\]: corrupt image: flags 0x3: only bit 0 \(close-on-exec\) may be set/],
      ['not bytes', (_q, r) => void (r.fdp = [1, 2, 3]), /TASK \d+\.fdp: corrupt image: expected bytes/],
      ['both', (_q, r) => void (r.fds = []), /TASK \d+: corrupt image: both fds and fdp/],
    ];
    const bad = (edit: (rows: Int32Array, r: Record<string, unknown>) => Uint8Array | void) =>
      resealed(
        editRecord(good, KIND.TASK, (r) => {
          if (r.pid !== c.pid) return;
          const b = r.fdp as Uint8Array;
          const q = new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
          const out = edit(q, r);
          if (r.fdp === b) r.fdp = out ?? new Uint8Array(q.buffer);
        }),
      );
    expectRestartsRefused(c.dir, c.pid, cases.map(([what, edit, re]) => [what, bad(edit), re]));
    // the reader's own entry point says the same
    expect(() => checkTask({ ...rawTask(img), fdp: new Uint8Array(13) } as never, 'TASK 1')).toThrow(/TASK 1\.fdp: corrupt image: 13 bytes/);
  });
});
