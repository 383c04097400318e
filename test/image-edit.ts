/** Rewriting records of an image for tests: frames, and a metadata record replaced with a
 * correct checksum (so that the validator or a later check is what refuses it). */
import { decode, encode, type CborValue } from '../src/image/cbor.js';
import { crc32c } from '../src/native/addon.js';

export const KIND = { HEADER: 1, TREE: 2, TASK: 3, PAGES: 16, TRAILER: 255 } as const;

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
