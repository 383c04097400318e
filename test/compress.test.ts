import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32c } from '../src/native/addon.js';
import { checkpointCase, cleanup, exists, killAndWait, restartDetached, startCase, ucr, verdict } from './harness.js';
import { editRecord, frames, KIND } from './image-edit.js';

afterEach(cleanup);

const LZ4_KINDS = [19, 20];

/** The image with record f's payload replaced (checksum recomputed, so only the decompression
 * check can catch it). */
function replacePayload(b: Buffer, at: number, len: number, kind: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(kind, 0);
  head.writeUInt32LE(crc32c(payload), 4);
  head.writeBigUInt64LE(BigInt(payload.length), 8);
  return Buffer.concat([b.subarray(0, at), head, payload, b.subarray(at + 16 + len)]);
}

describe('checkpoint --compress', () => {
  it('compressible and random memory and a memfd: the compressed image is smaller, inspect --verify passes, the restart is bit-exact', async () => {
    const c = await startCase('compressible');
    const plain = path.join(c.dir, 'plain.ucr');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, plain);
    const r = checkpointCase(c, img, ['--compress', '--json', '--kill']);
    const res = JSON.parse(r.stdout);
    expect(res.compression.ratio).toBeGreaterThan(2);
    expect(res.compression.storedBytes).toBeLessThan(res.pageBytes / 2);
    const plainImg = fs.readFileSync(plain);
    const packed = fs.readFileSync(img);
    expect(plainImg.readUInt32LE(12)).toBe(1); // format 1.1 without --compress
    expect(packed.readUInt32LE(12)).toBe(2);
    expect(frames(plainImg).some((f) => LZ4_KINDS.includes(f.kind))).toBe(false);
    const kinds = new Set(frames(packed).map((f) => f.kind));
    expect(kinds.has(19) && kinds.has(20)).toBe(true); // task pages and memfd contents
    expect(kinds.has(16)).toBe(true); // the random 8 MiB does not shrink: stored raw
    expect(packed.length).toBeLessThan(plainImg.length * 0.5);
    const v = ucr(['inspect', img, '--verify', '--json']);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    const iv = JSON.parse(v.stdout);
    expect(iv.pageBytes).toBe(res.pageBytes);
    expect(iv.compressedBytes).toBeGreaterThan(0);
    expect(iv.meta.header.compress).toBe('lz4');
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('64 MiB random memory (incompressible) round-trips bit-exact', async () => {
    const c = await startCase('memory');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--compress', '--kill']);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a compressed record that does not decompress to its page count, or fails its checksum, is refused', async () => {
    const c = await startCase('compressible');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--compress', '--kill']);
    await killAndWait(c.pid);
    const good = fs.readFileSync(img);
    const f = frames(good).find((x) => x.kind === 19)!;
    const payload = good.subarray(f.at + 16, f.at + 16 + f.len);
    // the LZ4 block cut to half, with a valid checksum: only decompression can notice
    const cut = replacePayload(good, f.at, f.len, f.kind, payload.subarray(0, 16 + Math.floor((f.len - 16) / 2)));
    const bad = path.join(c.dir, 'cut.ucr');
    fs.writeFileSync(bad, cut);
    let r = ucr(['restart', '-i', bad, '--detach']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/corrupt image: compressed pages do not decompress to \d+ bytes/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(exists(c.pid)).toBe(false);
    // one flipped byte in the block: checksum mismatch (inspect --verify sees it too)
    const flipped = Buffer.from(good);
    flipped[f.at + 16 + 16 + 10] ^= 0xff;
    fs.writeFileSync(bad, flipped);
    r = ucr(['inspect', bad, '--verify']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/checksum mismatch/);
    r = ucr(['restart', '-i', bad, '--detach']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/checksum mismatch/);
    expect(exists(c.pid)).toBe(false);
    // LZ4 records in an image whose HEADER names no compression
    const plainHeader = editRecord(good, KIND.HEADER, (h) => delete h.compress);
    fs.writeFileSync(bad, plainHeader);
    r = ucr(['inspect', bad, '--verify']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/compressed page record in an image without compression/);
    r = ucr(['restart', '-i', bad, '--detach']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/corrupt image: compressed page record in an image without compression/);
    expect(exists(c.pid)).toBe(false);
    // a format 1.1 image cannot name a compression
    const old = Buffer.from(good);
    old.writeUInt32LE(1, 12);
    fs.writeFileSync(bad, old);
    r = ucr(['inspect', bad]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/HEADER: compression in a format 1.1 image/);
    // an unknown compression is refused by the validator
    fs.writeFileSync(bad, editRecord(good, KIND.HEADER, (h) => (h.compress = 'zstd')));
    r = ucr(['inspect', bad]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/compression zstd is not lz4/);
  });
});
