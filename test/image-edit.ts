/** Rewriting records of an image for tests: frames, and a metadata record replaced with a
 * correct checksum (so that the validator or a later check is what refuses it); the checks
 * that edited or randomly mutated metadata is refused with a clear error. */
import fs from 'node:fs';
import { expect } from 'vitest';
import { ImageError, UcrError } from '../src/errors.js';
import { decode, encode, type CborValue } from '../src/image/cbor.js';
import { crc32c, digestAdd } from '../src/native/addon.js';
import { inspect } from '../src/orchestrator/inspect.js';
import { exists, ucr } from './harness.js';

export const KIND = { HEADER: 1, TREE: 2, TASK: 3, FILES: 4, IPC: 5, PAGES: 16, TRAILER: 255 } as const;

export interface Frame {
  kind: number;
  /** offset of the 16-byte frame header */
  at: number;
  /** payload length */
  len: number;
}

/** The records after the 16-byte prelude, from their frame lengths (stops at a bad length). */
export function frames(b: Buffer): Frame[] {
  const out: Frame[] = [];
  for (let at = 16; at + 16 <= b.length; ) {
    const len = Number(b.readBigUInt64LE(at + 8));
    if (at + 16 + len > b.length) break;
    out.push({ kind: b.readUInt32LE(at), at, len });
    at += 16 + len;
  }
  return out;
}

/** The payload of the first record of a kind. */
export function recordPayload(b: Buffer, kind: number): Buffer {
  const f = frames(b).find((x) => x.kind === kind);
  if (!f) throw new Error(`no record of kind ${kind}`);
  return b.subarray(f.at + 16, f.at + 16 + f.len);
}

/** The image with the first record of a kind replaced by payload (checksum recomputed). */
export function withRecord(b: Buffer, kind: number, payload: Buffer): Buffer {
  const f = frames(b).find((x) => x.kind === kind);
  if (!f) throw new Error(`no record of kind ${kind}`);
  const head = Buffer.alloc(16);
  head.writeUInt32LE(kind, 0);
  head.writeUInt32LE(crc32c(payload), 4);
  head.writeBigUInt64LE(BigInt(payload.length), 8);
  return Buffer.concat([b.subarray(0, f.at), head, payload, b.subarray(f.at + 16 + f.len)]);
}

/** The image with the first record of a kind decoded, changed by edit and encoded again. */
export function editRecord(b: Buffer, kind: number, edit: (r: Record<string, any>) => void): Buffer {
  const f = frames(b).find((x) => x.kind === kind)!;
  const r = decode(b.subarray(f.at + 16, f.at + 16 + f.len)) as Record<string, any>;
  edit(r);
  return withRecord(b, kind, Buffer.from(encode(r as CborValue)));
}

/** The image with its trailer's digest chained again over its records' checksums, as an
 * attacker would: with it, an edited image passes every check of the format. */
export function resealed(b: Buffer): Buffer {
  let digest = 0;
  for (const f of frames(b)) if (f.kind !== KIND.TRAILER) digest = digestAdd(digest, b.readUInt32LE(f.at + 4));
  return editRecord(b, KIND.TRAILER, (t) => (t.digest = digest));
}

/** An image with its FILES record replaced by f(payload), crc fixed. */
export function withFiles(good: Buffer, f: (payload: Buffer) => Buffer): Buffer {
  return withRecord(good, KIND.FILES, f(recordPayload(good, KIND.FILES)));
}

/** Writes to out the image with its FILES record's file list changed by f; returns out. */
export function editFiles<F>(good: Buffer, out: string, f: (files: F[]) => void): string {
  fs.writeFileSync(out, editRecord(good, KIND.FILES, (r) => f(r.files as F[])));
  return out;
}

/** Every named edit is refused by inspect with an ImageError whose message matches. */
export function expectEditsRefused<T>(cases: [string, (x: T) => void, RegExp][], edit: (f: (x: T) => void) => string): void {
  for (const [name, f, re] of cases) {
    const p = edit(f);
    expect(() => inspect({ input: p }), name).toThrow(re);
    expect(() => inspect({ input: p }), name).toThrow(ImageError);
  }
}

/** Every named image (written to dir) is refused by `ucr restart --detach` in one line that
 * matches, and nothing of it runs (pid: the image's root). */
export function expectRestartsRefused(dir: string, pid: number, cases: [string, Buffer, RegExp][]): void {
  for (const [what, bad, re] of cases) {
    const p = `${dir}/bad.ucr`;
    fs.writeFileSync(p, bad);
    const r = ucr(['restart', '-i', p, '--detach']);
    expect(r.code, what).toBe(1);
    expect(r.stderr.trim().split('\n'), what).toHaveLength(1);
    expect(r.stderr, what).toMatch(re);
    expect(exists(pid), what).toBe(false);
  }
}

/** A seeded generator: rand(n) is in 0..n-1, the same sequence for the same seed. */
export function seeded(seed: number): (n: number) => number {
  let rng = seed;
  return (n) => ((rng = (rng * 1103515245 + 12345) & 0x7fffffff) % n);
}

/** A copy of b with 1 to max random bytes set to random values. */
export function mutated(b: Uint8Array, rand: (n: number) => number, max: number): Buffer {
  const m = Buffer.from(b);
  for (let k = 1 + rand(max); k > 0; k--) m[rand(m.length)] = rand(256);
  return m;
}

/** Text that must never reach a user from any image, however hostile: a JavaScript or helper
 * internal error, a stack trace, a value that is not text. */
export const INTERNAL = /Cannot read propert|undefined|\bNaN\b|\[object |bad plan line|Maximum call stack|Invalid array length|is not a function|is not iterable|out of memory|\n\s*at /;

/** A refusal is one line and none of the internal text above. */
export function expectClear(message: string, what = ''): void {
  expect(message.trim(), `${what}: ${message}`).not.toMatch(/\n/);
  expect(message, what).not.toMatch(INTERNAL);
}

/** Inspects the image at p (metadata; all of it with verify): true if refused, and then only
 * ever with a clear one-line UcrError; false if the image is valid. Never a threshold on how
 * many random mutations are refused: how many land in opaque bytes (registers, xstate) depends
 * on the machine that made the image. */
export function inspectRefuses(p: string, verify = false): boolean {
  try {
    inspect({ input: p, verify });
    return false;
  } catch (e) {
    expect(e, String((e as Error)?.stack ?? e)).toBeInstanceOf(UcrError);
    expectClear((e as Error).message, p);
    return true;
  }
}
