/**
 * What the generated protocol code (protocol.gen.ts, from protocol/schema.mjs) needs: the word
 * encodings of bytes and texts, and the check of an event against the fields its schema lists.
 * docs/protocol.md describes the format.
 */
import { UcrError } from '../errors.js';

/** A number field: numbers, or bigints past 2^53 (masks, addresses). */
export type U64 = number | bigint;

export interface FieldSpec {
  name: string;
  type: string;
  opt?: boolean;
}

/** Bytes as hex, "-" when empty. */
export function bytesHex(b: Uint8Array): string {
  return b.length ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') : '-';
}

/** hex of texts, which repeat across a tree's lines (the same libraries in every task). */
const cache = new Map<string, string>();
/** A text (path, name) as the hex of its UTF-8 bytes; the empty text as one NUL, which the
 * helper refuses (a path or name is never empty). */
export function textHex(s: string): string {
  let h = cache.get(s);
  if (h === undefined) {
    if (cache.size > 4096) cache.clear();
    cache.set(s, (h = Buffer.from(s, 'utf8').toString('hex') || '00'));
  }
  return h;
}

const JSON_TYPE: Record<string, string> = { u64: 'number', i64: 'number', bool: 'number', str: 'string', word: 'string', hex: 'string', enum: 'string' };

/** An event as JSON, checked against its fields in the schema (events the C side builds by hand
 * with nested data are checked for their name only). */
export function checkEvent(v: unknown, fields: Record<string, readonly FieldSpec[]>): unknown {
  const bad = (why: string) => new UcrError(`ucr-helper: bad event: ${why}`, { code: 'EHELPER' });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not an object');
  const o = v as Record<string, unknown>;
  const spec = typeof o.ev === 'string' ? fields[o.ev] : undefined;
  if (!spec) throw bad(`unknown event ${JSON.stringify(o.ev)}`);
  for (const f of spec) {
    const x = o[f.name];
    if (x === undefined && f.opt) continue;
    const want = JSON_TYPE[f.type];
    if (want ? typeof x !== want : x === undefined) throw bad(`${o.ev}: field ${f.name} is ${x === undefined ? 'missing' : typeof x}`);
  }
  return o;
}
