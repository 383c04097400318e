// The contract between the coordinator and the helper (protocol/schema.mjs): every message of
// the schema goes through the TypeScript encoder, the helper's generated C decoder and back
// (`ucr-helper proto-echo`), at the edges of every field's range; values past an edge are
// refused by name. Every event with a generated C emitter goes C struct -> JSON -> the
// TypeScript decoder. A message of the schema the helper does not know fails the test.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a JavaScript data file without types
import { messages as schemaMessages } from '../protocol/schema.mjs';
import { helperPath } from '../src/native/addon.js';
import { ENCODERS, decodeEvent } from '../src/kernel/protocol.gen.js';
import { textHex } from '../src/kernel/protocol.js';

interface Field {
  name: string;
  type: string;
  c?: string;
  min?: number | bigint;
  max?: number | bigint;
  oneOf?: number[];
  opt?: boolean;
  nullable?: boolean;
  values?: string[];
  elem?: string;
  count?: number;
  minCount?: number;
  maxCount?: number;
}
interface Message {
  channel: string;
  name: string;
  fields: Field[];
  hand?: boolean;
}
const messages = schemaMessages as Message[];

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const U64MAX = 2n ** 64n - 1n;
const I64MIN = -(2n ** 63n);
const I64MAX = 2n ** 63n - 1n;
const big = (v: number | bigint | undefined) => (v === undefined ? undefined : BigInt(v));
function bounds(f: Field): [bigint, bigint] {
  if (f.type === 'bool') return [0n, 1n];
  const signed = f.type === 'i64' || f.elem === 'i64';
  return [big(f.min) ?? (signed ? I64MIN : 0n), big(f.max) ?? (signed ? I64MAX : U64MAX)];
}
/** at most this many bytes in a sample (a line is at most 16 MiB) */
const BYTES = 4096;
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 1) & 0xff);

type Value = bigint | boolean | Uint8Array | string | bigint[] | undefined;
/** A value of the field at its low or high edge; undefined: left out. */
function sample(f: Field, high: boolean): Value {
  const [min, max] = bounds(f);
  switch (f.type) {
    case 'u64':
    case 'i64':
      if (f.oneOf) return BigInt(high ? f.oneOf[f.oneOf.length - 1]! : f.oneOf[0]!);
      return high ? max : min;
    case 'bool':
      return high;
    case 'hex':
      return bytes(high ? Math.min(Number(f.max), BYTES) : Number(f.min ?? 0));
    case 'str':
      return high ? 'a path/ü with spaces' : f.nullable ? undefined : 'a';
    case 'word':
      return high ? 'w-1,x/y@z:3' : f.nullable ? undefined : 'w';
    case 'enum':
      return high ? f.values![f.values!.length - 1] : f.values![0];
    case 'list': {
      const n = f.count ?? (high ? Math.min(f.maxCount ?? 8, 8) : (f.minCount ?? 0));
      return Array.from({ length: n }, (_, i) => (high ? max - BigInt(i % 2) : min + BigInt(i % 2)));
    }
    case 'json':
      return high ? '[1,[2,"x"]]' : '{}';
  }
  throw new Error(f.type);
}

/** What proto-echo writes back for a value. */
function echoed(f: Field, v: Value): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'bigint') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(String);
  return v;
}

/** Fields of a sample: every required one, optional ones only at the high edge. */
function build(m: Message, high: boolean, override?: { field: string; value: Value }): Record<string, Value> {
  const o: Record<string, Value> = {};
  for (const f of m.fields) {
    if (f.opt && !high) continue;
    o[f.name] = override?.field === f.name ? override.value : sample(f, high);
  }
  return o;
}

/** Events have no TypeScript encoder (the coordinator never sends one): their line for
 * proto-echo, by the same word rules. */
function eventLine(m: Message, o: Record<string, Value>): string {
  const words = m.fields
    .filter((f) => o[f.name] !== undefined)
    .map((f) => {
      const v = o[f.name]!;
      if (f.type === 'str' || f.type === 'json') return textHex(v as string);
      return echoed(f, v) as string;
    });
  return ['event', m.name, ...words].join(' ');
}

function line(m: Message, o: Record<string, Value>): string {
  if (m.channel === 'event') return eventLine(m, o);
  const enc = ENCODERS[`${m.channel} ${m.name}`];
  if (!enc) throw new Error(`no encoder for ${m.channel} ${m.name}`);
  const args = Object.fromEntries(Object.entries(o).map(([k, v]) => [camel(k), v]));
  return `${m.channel} ${(enc as (x: unknown) => string)(args)}`;
}

function echo(lines: string[]): Record<string, unknown>[] {
  const r = spawnSync(helperPath(), ['proto-echo'], { input: lines.join('\n') + '\n', maxBuffer: 1 << 28 });
  expect(r.status, r.stderr.toString()).toBe(0);
  return r.stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('the protocol schema', () => {
  it('has one TypeScript encoder per coordinator message, and nothing else', () => {
    const keys = messages.filter((m) => m.channel !== 'event').map((m) => `${m.channel} ${m.name}`);
    expect(Object.keys(ENCODERS).sort()).toEqual(keys.sort());
  });

  it('round-trips every message at both edges of every field: TS encoder -> C decoder -> JSON', () => {
    const sent: { m: Message; o: Record<string, Value> }[] = [];
    for (const m of messages) for (const high of [false, true]) sent.push({ m, o: build(m, high) });
    const out = echo(sent.map(({ m, o }) => line(m, o))).filter((e) => e.ev === 'echo' || e.ev === 'echo-error');
    expect(out.filter((e) => e.ev === 'echo-error')).toEqual([]);
    expect(out.length).toBe(sent.length);
    out.forEach((e, i) => {
      const { m, o } = sent[i]!;
      expect(e['@']).toBe(`${m.channel} ${m.name}`);
      for (const f of m.fields) {
        // an optional field left out is decoded as absent, and not echoed
        const want = f.opt && o[f.name] === undefined ? undefined : echoed(f, o[f.name]);
        expect({ field: `${m.channel} ${m.name}.${f.name}`, v: e[f.name] }).toEqual({ field: `${m.channel} ${m.name}.${f.name}`, v: want });
      }
    });
    // every message of the schema was known to the helper
    expect(new Set(out.map((e) => e['@'])).size).toBe(messages.length);
  });

  it('refuses a value past each edge, naming the field', () => {
    const cases: { key: string; field: string | null; text: string }[] = [];
    for (const m of messages) {
      const key = `${m.channel} ${m.name}`;
      for (const f of m.fields) {
        const [min, max] = bounds(f);
        const bad: Value[] = [];
        if (f.type === 'u64' || f.type === 'i64' || f.type === 'bool') {
          if (f.oneOf) bad.push(BigInt(Math.max(...f.oneOf)) + 1n);
          if (f.type === 'bool' || max !== (f.type === 'i64' ? I64MAX : U64MAX)) bad.push(max + 1n);
          if (min !== (f.type === 'i64' ? I64MIN : 0n)) bad.push(min - 1n);
        }
        if (f.type === 'hex' && Number(f.max) < BYTES) bad.push(bytes(Number(f.max) + 1));
        if (f.type === 'hex' && Number(f.min ?? 0) > 0) bad.push(bytes(Number(f.min) - 1));
        if (f.type === 'str') bad.push('a\0b');
        if (f.type === 'enum') bad.push('nope');
        if (f.type === 'list' && f.count) bad.push(Array.from({ length: f.count + 1 }, () => min));
        if (f.type === 'list' && f.elem && max !== (f.elem === 'i64' ? I64MAX : U64MAX)) bad.push([max + 1n]);
        for (const v of bad) {
          // a bool past 1 cannot come from the encoder: the word is written over
          const asBool = f.type === 'bool' && typeof v === 'bigint';
          const text = line(m, build(m, true, { field: f.name, value: asBool ? true : v }));
          cases.push({ key, field: f.name, text: asBool ? replaceWord(m, text, f.name, String(v)) : text });
        }
      }
      // a word missing
      const full = line(m, build(m, false)).split(' ');
      if (m.fields.some((f) => !f.opt)) cases.push({ key, field: null, text: full.slice(0, -1).join(' ') });
      cases.push({ key, field: null, text: [...line(m, build(m, true)).split(' '), '1'].join(' ') });
    }
    const out = echo(cases.map((c) => c.text)).filter((e) => e.ev === 'echo' || e.ev === 'echo-error');
    expect(out.length).toBe(cases.length);
    out.forEach((e, i) => {
      const c = cases[i]!;
      expect({ case: c.text.slice(0, 120), ev: e.ev, field: e.field ?? null }).toEqual({ case: c.text.slice(0, 120), ev: 'echo-error', field: c.field });
    });
  });

  it('every event with a generated emitter comes out as JSON the TypeScript decoder takes, typed', () => {
    const gen = messages.filter((m) => m.channel === 'event' && !m.hand);
    const sent = gen.map((m) => {
      const o: Record<string, Value> = {};
      for (const f of m.fields) {
        const v = sample(f, true);
        // events carry JSON numbers: samples within 2^53
        o[f.name] = typeof v === 'bigint' ? (v > 2n ** 53n ? 2n ** 53n - 1n : v < -(2n ** 53n) ? -(2n ** 53n) : v) : v;
      }
      return { m, o };
    });
    const out = echo(sent.map(({ m, o }) => eventLine(m, o))).filter((e) => e.ev !== 'echo');
    expect(out.length).toBe(sent.length);
    out.forEach((raw, i) => {
      const { m, o } = sent[i]!;
      const ev = decodeEvent(JSON.stringify(raw)) as unknown as Record<string, unknown>;
      expect(ev.ev).toBe(m.name);
      for (const f of m.fields) {
        const v = o[f.name];
        const want = typeof v === 'bigint' ? Number(v) : f.type === 'json' ? JSON.parse(v as string) : v;
        expect({ field: `${m.name}.${f.name}`, v: ev[f.name] }).toEqual({ field: `${m.name}.${f.name}`, v: want });
      }
    });
  });

  it('every message is used: each command is sent by the coordinator, each generated event emitted by the helper', () => {
    const files = (dir: string, ext: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? (d.name === 'gen' ? [] : files(path.join(dir, d.name), ext)) : d.name.endsWith(ext) && !d.name.includes('.gen.') ? [path.join(dir, d.name)] : []));
    const ts = files('src', '.ts').map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    const c = files('native/helper', '.c').map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    const pascal = (s: string) => s.replace(/(^|[._])([a-z0-9])/g, (_, __, x: string) => x.toUpperCase());
    const unusedCommands = messages.filter((m) => m.channel !== 'event' && !new RegExp(`\\b${m.channel}${pascal(m.name)}\\b`).test(ts));
    expect(unusedCommands.map((m) => `${m.channel} ${m.name}`)).toEqual([]);
    const unemitted = messages.filter((m) => m.channel === 'event' && !m.hand && !c.includes(`EMIT_${m.name.replace('.', '_').toUpperCase()}(`));
    expect(unemitted.map((m) => m.name)).toEqual([]);
  });

  it('events the C side builds by hand (nested data) are listed, and their decoder checks their fields', () => {
    const hand = messages.filter((m) => m.channel === 'event' && m.hand).map((m) => m.name);
    expect(hand.sort()).toEqual(['inetq', 'rawsockq', 'state', 'unixq'].sort());
    expect(() => decodeEvent('{"ev":"runs","pid":"1","start":0,"runs":[]}')).toThrow(/runs: field pid is string/);
    expect(() => decodeEvent('{"ev":"created","nspids":[]}')).toThrow(/created: field pids is missing/);
    expect(() => decodeEvent('{"ev":"nonesuch"}')).toThrow(/unknown event "nonesuch"/);
    expect(decodeEvent('{"ev":"created","pids":[5],"nspids":[1]}')).toEqual({ ev: 'created', pids: [5], nspids: [1] });
  });
});

/** The line with the word of one field replaced (a value no encoder writes). */
function replaceWord(m: Message, text: string, field: string, word: string): string {
  const w = text.split(' ');
  const i = m.fields.findIndex((f) => f.name === field);
  w[2 + i] = word;
  return w.join(' ');
}
