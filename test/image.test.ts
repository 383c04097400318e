import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../src/image/cbor.js';
import { crc32c, digestAdd } from '../src/native/addon.js';
import { checkpointCase, cleanup, exists, killAndWait, restartDetached, startCase, ucr, verdict, type Case } from './harness.js';

/** One good image of a killed task; every corrupted copy must fail cleanly and create nothing. */
let c: Case;
let good: Buffer;
let img: string;

beforeAll(async () => {
  c = await startCase('counter');
  img = path.join(c.dir, 'good.ucr');
  checkpointCase(c, img, ['--kill']);
  await killAndWait(c.pid);
  good = fs.readFileSync(img);
});
afterAll(cleanup);

function variant(name: string, bytes: Buffer): string {
  const p = path.join(c.dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

function expectRefused(file: string, pattern: RegExp): void {
  for (const cmd of [['restart', '-i', file, '--detach'], ['inspect', file]]) {
    const r = ucr(cmd);
    expect(r.code, `${cmd[0]}: ${r.stderr}`).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
  }
  expect(exists(c.pid)).toBe(false);
}

/** Offsets of the records, from the frame lengths. */
function frames(b: Buffer): { kind: number; at: number; len: number }[] {
  const out = [];
  for (let at = 16; at < b.length; ) {
    const len = Number(b.readBigUInt64LE(at + 8));
    out.push({ kind: b.readUInt32LE(at), at, len });
    at += 16 + len;
  }
  return out;
}

describe('bad images are refused with one clear line, and nothing is created', () => {
  it('the image is created 0600 and inspect finds it complete', () => {
    expect(fs.statSync(img).mode & 0o777).toBe(0o600);
    const r = ucr(['inspect', img, '--verify']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/complete \(trailer ok, all page checksums verified\)/);
    expect(r.stdout).toContain(`${c.pid} counter`);
  });

  it('truncated anywhere: prelude, metadata, page data, missing trailer', () => {
    const f = frames(good);
    const pages = f.find((x) => x.kind === 16)!;
    const trailer = f.find((x) => x.kind === 255)!;
    for (const cut of [5, 40, f[2]!.at + 30, pages.at + 16 + 100, trailer.at])
      expectRefused(variant(`trunc-${cut}`, good.subarray(0, cut)), /truncated image/);
  });

  it('one flipped byte in metadata, in page data, or in the trailer', () => {
    const f = frames(good);
    const pages = f.find((x) => x.kind === 16)!;
    const trailer = f.find((x) => x.kind === 255)!;
    const flip = (at: number) => {
      const b = Buffer.from(good);
      b[at]! ^= 0x40;
      return b;
    };
    expectRefused(variant('flip-meta', flip(f.find((x) => x.kind === 3)!.at + 16 + 50)), /checksum mismatch in the TASK/);
    // page data is checked by restart as it streams, and by inspect --verify
    const pageFlip = variant('flip-page', flip(pages.at + 16 + 16 + 1000));
    const r = ucr(['restart', '-i', pageFlip, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/page record at 0x[0-9a-f]+: corrupt image: checksum mismatch/);
    expect(exists(c.pid)).toBe(false);
    expect(ucr(['inspect', pageFlip, '--verify']).stderr).toMatch(/page record at 0x[0-9a-f]+: corrupt image: checksum mismatch/);
    expectRefused(variant('flip-trailer', flip(trailer.at + 16 + 2)), /trailer/);
  });

  it('wrong format version and bad magic', () => {
    const v2 = Buffer.from(good);
    v2.writeUInt32LE(2, 8);
    expectRefused(variant('v2', v2), /format version 2\.\d+ is not supported \(this ucr reads 1\.0 to 1\.\d+\)/);
    const nm = Buffer.from(good);
    nm.write('XXXX', 0);
    expectRefused(variant('magic', nm), /not a ucr image/);
  });

  it('a missing image file', () => {
    const r = ucr(['restart', '-i', path.join(c.dir, 'nope.ucr')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ucr: image .*nope\.ucr: no such file\n$/);
  });

  it('a pid in use is named, and its holder keeps running untouched', async () => {
    const other = await startCase('counter');
    const taken = path.join(c.dir, 'taken.ucr');
    checkpointCase(other, taken);
    const r = ucr(['restart', '-i', taken, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ucr: pid ${other.pid} is in use by counter\n`);
    expect(await verdict(other)).toBe('PASS');
  });

  it('refuses an image from another kernel build, naming the difference; --force overrides', async () => {
    const recs = frames(good);
    const frame = (kind: number, payload: Buffer) => {
      const f = Buffer.alloc(16);
      f.writeUInt32LE(kind, 0);
      f.writeUInt32LE(crc32c(payload), 4);
      f.writeBigUInt64LE(BigInt(payload.length), 8);
      return Buffer.concat([f, payload]);
    };
    const body = (r: { at: number; len: number }) => good.subarray(r.at + 16, r.at + 16 + r.len);
    const header = decode(body(recs[0]!)) as Record<string, any>;
    header.kernel.version = '#1 SMP some other build';
    // a consistent image: new HEADER frame, trailer digest recomputed over the new chain
    const parts = [good.subarray(0, 16), frame(1, encode(header)), ...recs.slice(1, -1).map((r) => good.subarray(r.at, r.at + 16 + r.len))];
    let digest = 0;
    for (const p of parts.slice(1)) digest = digestAdd(digest, p.readUInt32LE(4));
    const trailer = decode(body(recs.at(-1)!)) as Record<string, any>;
    trailer.digest = digest;
    const other = variant('other-kernel', Buffer.concat([...parts, frame(255, encode(trailer))]));
    expect(ucr(['inspect', other]).code).toBe(0);

    const r = ucr(['restart', '-i', other, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ucr: image was made on another kernel or CPU: kernel build "#1 SMP some other build" \(image\) vs ".*" \(here\) \(use --force to try anyway\)\n$/);
    expect(exists(c.pid)).toBe(false);

    const forced = ucr(['restart', '-i', other, '--detach', '--force']);
    expect(forced.stderr).toMatch(/^ucr: warning: kernel build "#1 SMP some other build"/);
    expect(forced.code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('pids held by zombies', () => {
  it('are waited for (--pid-wait), and a pid held too long is named', async () => {
    const z = await startCase('counter', { holdZombieMs: 1500 });
    const zimg = path.join(z.dir, 'z.ucr');
    checkpointCase(z, zimg, ['--kill']);
    // the launcher keeps the killed task a zombie for 1.5 s
    const short = ucr(['restart', '-i', zimg, '--detach', '--pid-wait', '200']);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(new RegExp(`pid ${z.pid} is in use \\(waited 200 ms\\)`));
    const t0 = Date.now();
    restartDetached(zimg);
    expect(Date.now() - t0).toBeGreaterThan(300);
    expect(await verdict(z)).toBe('PASS');
  });
});

describe('format minor', () => {
  it('is the oldest whose readers restore everything: 1.1 plain, 1.2 LZ4, 1.3 inherited pages, 1.4 what issues 16-17 added, 1.5 threads\' xstate without its zeros, 1.7 a vdso group with parts missing or apart, 1.8 a table of 64 fds or more', async () => {
    const { formatMinor } = await import('../src/image/format-minor.js');
    const sp = (name: string, start: number, pages: number) => ({ name, start, end: start + pages * 4096 });
    const group = [sp('[vvar]', 0x7000_0000_0000, 4), sp('[vvar_vclock]', 0x7000_0000_4000, 2), sp('[vdso]', 0x7000_0000_6000, 2)];
    const task = (over: Record<string, unknown> = {}) => ({ vmas: [], fds: [], posixTimers: [], threads: [], xstate: new Uint8Array(1024), specials: group, ...over }) as never;
    const none = { files: [], pipes: [] };
    expect(formatMinor([task()], none, false)).toBe(1);
    expect(formatMinor([task()], none, true)).toBe(2);
    expect(formatMinor([task({ inherited: [[4096, 1]] })], none, true)).toBe(3);
    expect(formatMinor([task({ inherited: [[4096, 1]], guards: [[8192, 1]] })], none, false)).toBe(4);
    expect(formatMinor([task({ seccomp: { threads: [] } })], none, false)).toBe(4);
    expect(formatMinor([task({ attrs: { sched: [], files: 10 } })], none, false)).toBe(4);
    expect(formatMinor([task()], { ...none, files: [{ kind: 'unix', unix: { rights: [[3]] } }] } as never, false)).toBe(4);
    expect(formatMinor([task()], { ...none, files: [{ kind: 'unix', unix: { rights: [[]] } }] } as never, false)).toBe(1);
    expect(formatMinor([task()], { ...none, files: [{ kind: 'inet', inet: { state: 'last-ack' } }] } as never, false)).toBe(4);
    expect(formatMinor([task()], { ...none, ttys: [{ queued: { out: new Uint8Array(1) } }] } as never, false)).toBe(4);
    expect(formatMinor([task({ threads: [{ xstate: new Uint8Array(1024) }] })], none, false)).toBe(1);
    expect(formatMinor([task({ threads: [{ xstate: new Uint8Array(576) }], guards: [[8192, 1]] })], none, false)).toBe(5);
    // the whole group where the kernel lays it out (without [vvar_vclock] on kernels that have none): as before
    expect(formatMinor([task({ specials: [group[0], { ...group[2]!, start: 0x7000_0000_4000, end: 0x7000_0000_6000 }] })], none, false)).toBe(1);
    expect(formatMinor([task({ specials: [] })], none, false)).toBe(7);
    expect(formatMinor([task({ specials: [group[2]] })], none, false)).toBe(7);
    expect(formatMinor([task({ specials: [group[0], group[2]] })], none, false)).toBe(7);
    expect(formatMinor([task({ specials: [group[0], group[1], sp('[vdso]', 0x6000_0000_0000, 2)] })], none, true)).toBe(7);
    const fds = (n: number) => Array.from({ length: n }, (_, i) => ({ fd: i, file: 1, cloexec: false }));
    expect(formatMinor([task({ fds: fds(63) })], none, false)).toBe(1);
    expect(formatMinor([task(), task({ fds: fds(64) })], none, false)).toBe(8);
    expect(formatMinor([task({ fds: fds(64), specials: [] })], none, true)).toBe(8);
  });
});
