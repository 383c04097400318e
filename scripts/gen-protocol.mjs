#!/usr/bin/env node
// Generates the two halves of the coordinator <-> helper protocol from protocol/schema.mjs:
//   native/helper/gen/proto_gen.{h,c}  structs, decoders (type and range checks), dispatch per
//                                       channel, event emitters, and the proto-echo table
//   src/kernel/protocol.gen.ts          types, line encoders, event types and decoders
// Run by scripts/build-native.mjs, `npm run build:ts`, `prepare` and vitest's setup; the
// outputs are build products (.gitignore), rewritten only when their text changes.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { messages } = await import(pathToFileURL(path.join(root, 'protocol', 'schema.mjs')).href);

const CHANNELS = {
  plan: { ctx: 'struct plan_in', phase: 'plan', what: 'bad plan line', dispatch: true },
  restore: { ctx: 'struct restore_in', phase: 'command', what: 'bad restart step', dispatch: true },
  dump: { ctx: 'struct dump_in', phase: 'command', what: 'bad command', dispatch: true },
  dumprun: { ctx: 'struct runs_in', phase: 'command', what: 'bad run line', dispatch: true },
  event: { ctx: 'void', phase: 'event', what: 'bad event' },
};
const U64MAX = 2n ** 64n - 1n;
const I64MIN = -(2n ** 63n);
const I64MAX = 2n ** 63n - 1n;

// ---- checks of the schema itself
const seen = new Set();
for (const m of messages) {
  if (!CHANNELS[m.channel]) throw new Error(`${m.name}: unknown channel ${m.channel}`);
  const key = `${m.channel}:${m.name}`;
  if (seen.has(key)) throw new Error(`${key}: listed twice`);
  seen.add(key);
  if (!/^[a-z][a-z0-9]*(\.[a-z0-9]+)?$/.test(m.name)) throw new Error(`${key}: bad name`);
  let opt = false;
  const names = new Set();
  for (const f of m.fields) {
    if (names.has(f.name)) throw new Error(`${key}: field ${f.name} twice`);
    names.add(f.name);
    if (opt && !f.opt) throw new Error(`${key}: ${f.name} follows an optional field`);
    opt ||= !!f.opt;
    if (f.type === 'json' && m.channel !== 'event') throw new Error(`${key}: json fields are for events`);
  }
}

const cname = (m) => m.name.replace('.', '_');
const sname = (m) => `msg_${m.channel}_${cname(m)}`;
const big = (v) => (v === undefined ? undefined : BigInt(v));
const isNum = (f) => f.type === 'u64' || f.type === 'i64' || f.type === 'bool';
const lim = (f) => {
  if (f.type === 'bool') return { min: 0n, max: 1n };
  const signed = f.type === 'i64' || f.elem === 'i64';
  return { min: big(f.min) ?? (signed ? I64MIN : 0n), max: big(f.max) ?? (signed ? I64MAX : U64MAX), signed };
};
const clit = (v, signed) => (signed ? (v === I64MIN ? 'INT64_MIN' : `${v}LL`) : `${v}ULL`);

// ---------------------------------------------------------------- C
function cField(f, ev) {
  f = { ...f, name: f.c ?? f.name };
  switch (f.type) {
    case 'u64':
    case 'bool':
      return [`uint64_t ${f.name};`];
    case 'i64':
      return [`int64_t ${f.name};`];
    case 'hex':
      return [`unsigned char *${f.name}; /* decoded in place in the line */`, `size_t ${f.name}_len;`];
    case 'str':
      return [`${ev ? 'const ' : ''}char *${f.name};${f.nullable ? ' /* NULL: "-" */' : ''}`];
    case 'word':
      return [`char *${f.name};${f.nullable ? ' /* NULL: "-" */' : ''}`];
    case 'enum':
      return [`int ${f.name}; /* ${f.values.map((v, i) => `${i} ${v}`).join(', ')} */`];
    case 'list':
      return [`${f.elem === 'i64' ? 'int64_t' : 'uint64_t'} *${f.name}; /* malloc'd; freed after the handler unless it takes it (sets NULL) */`, `size_t ${f.name}_count;`];
    case 'json':
      return [`const char *${f.name}; /* JSON text${f.opt ? '; NULL: left out' : ''} */`];
    default:
      throw new Error(`type ${f.type}`);
  }
}

function cDecodeField(m, f, i) {
  const w = `w[${i + 1}]`;
  const key = f.name;
  f = { ...f, name: f.c ?? f.name };
  const out = [];
  const fail = (why) => `return proto_decode_err(e, "${key}", ${why});`;
  const range = (v, L) => {
    const c = [];
    if (f.oneOf) c.push(`!(${f.oneOf.map((x) => `${v} == ${clit(BigInt(x), L.signed)}`).join(' || ')})`);
    else {
      if (L.signed ? L.min !== I64MIN : L.min !== 0n) c.push(`${v} < ${clit(L.min, L.signed)}`);
      if (L.signed ? L.max !== I64MAX : L.max !== U64MAX) c.push(`${v} > ${clit(L.max, L.signed)}`);
    }
    return c;
  };
  switch (f.type) {
    case 'u64':
    case 'bool': {
      const L = lim(f);
      out.push(`if (parse_u64(${w}, &m->${f.name})) ${fail('"not a number"')}`);
      const c = range(`m->${f.name}`, L);
      if (c.length) out.push(`if (${c.join(' || ')}) ${fail('"out of range"')}`);
      break;
    }
    case 'i64': {
      const L = lim(f);
      out.push(`if (parse_i64(${w}, &m->${f.name})) ${fail('"not a number"')}`);
      const c = range(`m->${f.name}`, L);
      if (c.length) out.push(`if (${c.join(' || ')}) ${fail('"out of range"')}`);
      break;
    }
    case 'hex':
      out.push(`if (proto_hex_field(${w}, ${f.min ?? 0}, ${f.max}, &m->${f.name}, &m->${f.name}_len)) ${fail('"bad hex or length"')}`);
      break;
    case 'str':
      out.push(`if (proto_str_field(${w}, ${f.nullable ? 1 : 0}, (char **)&m->${f.name})) ${fail('"bad hex text"')}`);
      break;
    case 'word':
      out.push(`m->${f.name} = ${f.nullable ? `strcmp(${w}, "-") ? ${w} : NULL` : w};`);
      break;
    case 'json':
      out.push(`if (proto_str_field(${w}, ${f.opt ? 1 : 0}, (char **)&m->${f.name})) ${fail('"bad hex text"')}`);
      break;
    case 'enum':
      out.push(`m->${f.name} = -1;`);
      f.values.forEach((v, k) => out.push(`if (!strcmp(${w}, "${v}")) m->${f.name} = ${k};`));
      out.push(`if (m->${f.name} < 0) ${fail('"not one of the words allowed"')}`);
      break;
    case 'list': {
      const L = lim(f);
      const minc = f.count ?? f.minCount ?? 0;
      const maxc = f.count ?? f.maxCount ?? 1 << 20;
      out.push(
        `if (proto_list_field(${w}, ${L.signed ? 1 : 0}, ${clit(L.min, true)}, ${L.signed ? clit(L.max, true) : `(int64_t)${clit(L.max, false)}`}, ${minc}, ${maxc}, (void **)&m->${f.name}, &m->${f.name}_count)) ${fail('"bad list"')}`,
      );
      break;
    }
    default:
      throw new Error(f.type);
  }
  if (f.opt) {
    const body = out.map((l) => '\t\t' + l).join('\n');
    return [`\tif (n > ${i + 1}) {`, ...(f.type === 'json' ? [] : [`\t\tm->has_${f.name} = 1;`]), body, '\t}'].join('\n');
  }
  return out.map((l) => '\t' + l).join('\n');
}

function cStruct(m) {
  const lines = [`/* ${m.channel} ${m.name}: ${m.doc.replace(/\*\//g, '* /')} */`, `struct ${sname(m)} {`];
  for (const f of m.fields) {
    for (const l of cField(f, m.channel === 'event')) lines.push(`\t${l}`);
    if (f.opt && f.type !== 'json') lines.push(`\tint has_${f.c ?? f.name};`);
  }
  if (!m.fields.length) lines.push('\tint none_;');
  lines.push('};');
  return lines.join('\n');
}

function cDecoder(m) {
  const req = m.fields.filter((f) => !f.opt).length;
  const all = m.fields.length;
  const lists = m.fields.filter((f) => f.type === 'list');
  const L = [
    `int ${sname(m)}_decode(char **w, int n, struct ${sname(m)} *m, struct proto_err *e)`,
    '{',
    '\tmemset(m, 0, sizeof *m);',
    `\tif (n < ${req + 1} || n > ${all + 1})`,
    `\t\treturn proto_decode_err(e, NULL, "${req === all ? `${all} field${all === 1 ? '' : 's'}` : `${req} to ${all} fields`} expected");`,
  ];
  m.fields.forEach((f, i) => L.push(cDecodeField(m, f, i)));
  L.push('\treturn 0;', '}');
  L.push(`void ${sname(m)}_free(struct ${sname(m)} *m)`, '{');
  for (const f of lists) L.push(`\tfree(m->${f.name});`, `\tm->${f.name} = NULL;`);
  if (!lists.length) L.push('\t(void)m;');
  L.push('}');
  return L.join('\n');
}

// JSON of a decoded message (proto-echo) or an event (its emitter)
function cJson(m, echo) {
  const L = [];
  const evname = echo ? `"{\\"ev\\":\\"echo\\",\\"@\\":\\"${m.channel} ${m.name}\\""` : `"{\\"ev\\":\\"${m.name}\\""`;
  L.push(`\tstruct proto_json j = { 0 };`, `\tproto_json_raw(&j, ${evname});`);
  for (let f of m.fields) {
    const key = `"${f.name}"`;
    f = { ...f, name: f.c ?? f.name };
    const guard = f.opt ? (f.type === 'json' || f.type === 'str' ? `m->${f.name}` : `m->has_${f.name}`) : null;
    let s;
    switch (f.type) {
      case 'u64':
      case 'bool':
        s = echo ? `proto_json_u64s(&j, ${key}, m->${f.name});` : `proto_json_u64(&j, ${key}, m->${f.name});`;
        break;
      case 'i64':
        s = echo ? `proto_json_i64s(&j, ${key}, m->${f.name});` : `proto_json_i64(&j, ${key}, m->${f.name});`;
        break;
      case 'hex':
        s = `proto_json_hex(&j, ${key}, m->${f.name}, m->${f.name}_len);`;
        break;
      case 'str':
      case 'word':
        s = `proto_json_str(&j, ${key}, m->${f.name});`;
        break;
      case 'enum':
        s = `proto_json_str(&j, ${key}, ${JSON.stringify(f.values)}[m->${f.name}]);`.replace(/\["/, '(const char *[]){ "').replace(/"\]\[/, '" }[');
        s = `proto_json_str(&j, ${key}, (const char *[]){ ${f.values.map((v) => `"${v}"`).join(', ')} }[m->${f.name}]);`;
        break;
      case 'list':
        s = `proto_json_list(&j, ${key}, m->${f.name}, m->${f.name}_count, ${f.elem === 'i64' ? 1 : 0});`;
        break;
      case 'json':
        s = echo ? `proto_json_str(&j, ${key}, m->${f.name});` : `proto_json_rawfield(&j, ${key}, m->${f.name});`;
        break;
    }
    L.push(guard ? `\tif (${guard})\n\t\t${s}` : `\t${s}`);
  }
  L.push('\tproto_json_end(&j);');
  return L.join('\n');
}

function genC() {
  const H = [
    '/* Generated by scripts/gen-protocol.mjs from protocol/schema.mjs: do not edit. */',
    '#ifndef UCR_PROTO_GEN_H',
    '#define UCR_PROTO_GEN_H',
    '#include <stddef.h>',
    '#include <stdint.h>',
    '',
    '#include "proto.h"',
    '',
    'struct plan_in;',
    'struct restore_in;',
    'struct dump_in;',
    'struct runs_in;',
    '',
  ];
  const C = [
    '/* Generated by scripts/gen-protocol.mjs from protocol/schema.mjs: do not edit. */',
    '#define _GNU_SOURCE',
    '#include "proto_gen.h"',
    '',
    '#include <errno.h>',
    '#include <stdlib.h>',
    '#include <string.h>',
    '',
  ];
  for (const m of messages) {
    H.push(cStruct(m));
    if (m.channel === 'event') {
      if (!m.hand) H.push(`void ev_${cname(m)}(const struct ${sname(m)} *m);`, `#define EMIT_${cname(m).toUpperCase()}(...) ev_${cname(m)}(&(struct ${sname(m)}){ __VA_ARGS__ })`);
    } else if (CHANNELS[m.channel].dispatch) {
      const ctx = CHANNELS[m.channel].ctx;
      H.push(`/* hand-written: */ int on_${m.channel}_${cname(m)}(${ctx} *ctx, struct ${sname(m)} *m);`);
    }
    H.push(`int ${sname(m)}_decode(char **w, int n, struct ${sname(m)} *m, struct proto_err *e);`, `void ${sname(m)}_free(struct ${sname(m)} *m);`, '');
    C.push(cDecoder(m), '');
    C.push(`static void ${sname(m)}_echo(const void *p)`, '{', `\tconst struct ${sname(m)} *m = p;`, '\t(void)m;', cJson(m, true), '}', '');
    if (m.channel === 'event' && !m.hand) C.push(`void ev_${cname(m)}(const struct ${sname(m)} *m)`, '{', '\t(void)m;', cJson(m, false), '}', '');
  }
  // dispatch per channel: verbs sorted, binary search
  for (const [ch, spec] of Object.entries(CHANNELS)) {
    if (!spec.dispatch) continue;
    const ms = messages.filter((m) => m.channel === ch).sort((a, b) => (a.name < b.name ? -1 : 1));
    H.push(`/* Decodes the words of one ${ch} line and calls its handler; a bad line is reported (phase "${spec.phase}") and -1 returned. */`);
    H.push(`int proto_${ch}_dispatch(${spec.ctx} *ctx, char **w, int n);`, '');
    C.push(`static const char *const ${ch}_verbs[] = { ${ms.map((m) => `"${m.name}"`).join(', ')} };`);
    C.push(`int proto_${ch}_dispatch(${spec.ctx} *ctx, char **w, int n)`, '{');
    C.push(`\tint k = proto_verb(${ch}_verbs, ${ms.length}, w[0]);`, '\tstruct proto_err e = { 0 };', '\tint r;', '\tswitch (k) {');
    ms.forEach((m, k) => {
      C.push(`\tcase ${k}: {`, `\t\tstruct ${sname(m)} m;`, `\t\tif (${sname(m)}_decode(w, n, &m, &e) < 0) {`, `\t\t\t${sname(m)}_free(&m);`, '\t\t\tbreak;', '\t\t}');
      C.push(`\t\tr = on_${ch}_${cname(m)}(ctx, &m);`, `\t\t${sname(m)}_free(&m);`, '\t\treturn r;', '\t}');
    });
    C.push('\tdefault:', `\t\treturn proto_fail("${spec.phase}", w[0], EINVAL, "unknown ${ch === 'plan' ? 'plan line' : ch === 'restore' ? 'restart step' : 'command'}");`, '\t}');
    C.push(`\treturn proto_fail("${spec.phase}", w[0], EINVAL, "${spec.what} (%s%s%s)", e.field ? e.field : "", e.field ? ": " : "", e.why);`, '}', '');
  }
  // proto-echo: every message of every channel
  const all = messages.map((m) => ({ m, key: `${m.channel} ${m.name}` })).sort((a, b) => (a.key < b.key ? -1 : 1));
  C.push('const struct proto_echo_entry proto_echo_table[] = {');
  for (const { m, key } of all)
    C.push(`\t{ "${key}", sizeof(struct ${sname(m)}), (int (*)(char **, int, void *, struct proto_err *))${sname(m)}_decode, ${sname(m)}_echo, (void (*)(void *))${sname(m)}_free, ${m.channel === 'event' && !m.hand ? `(void (*)(const void *))ev_${cname(m)}` : 'NULL'} },`);
  C.push('};', `const int proto_echo_count = ${all.length};`, '');
  H.push(
    'struct proto_echo_entry {',
    '\tconst char *key; /* "<channel> <verb>" */',
    '\tsize_t size;',
    '\tint (*decode)(char **w, int n, void *m, struct proto_err *e);',
    '\tvoid (*echo)(const void *m);',
    '\tvoid (*free)(void *m);',
    '\tvoid (*emit)(const void *m); /* events with a generated emitter */',
    '};',
    'extern const struct proto_echo_entry proto_echo_table[];',
    'extern const int proto_echo_count;',
    '#endif',
    '',
  );
  return { h: H.join('\n'), c: C.join('\n') };
}

// ---------------------------------------------------------------- TypeScript
const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const pascal = (s) => s.replace(/(^|[._])([a-z0-9])/g, (_, __, c) => c.toUpperCase());
function tsType(f, ev) {
  switch (f.type) {
    case 'u64':
    case 'i64':
      return ev ? 'number' : 'U64';
    case 'bool':
      return 'boolean';
    case 'hex':
      return 'Uint8Array';
    case 'str':
    case 'word':
      return 'string';
    case 'enum':
      return f.values.map((v) => `'${v}'`).join(' | ');
    case 'list':
      return 'readonly U64[]';
    case 'json':
      return f.ts;
  }
}
function tsEncode(f) {
  const v = `m.${camel(f.name)}`;
  switch (f.type) {
    case 'u64':
    case 'i64':
      return `\${${v}}`;
    case 'bool':
      return `\${${v} ? 1 : 0}`;
    case 'hex':
      return `\${bytesHex(${v})}`;
    case 'str':
      return f.nullable ? `\${${v} === undefined ? '-' : textHex(${v})}` : `\${textHex(${v})}`;
    case 'word':
      return f.nullable ? `\${${v} ?? '-'}` : `\${${v}}`;
    case 'enum':
      return `\${${v}}`;
    case 'list':
      return `\${${v}.length ? ${v}.join(',') : '-'}`;
    case 'json':
      return `\${textHex(JSON.stringify(${v}))}`;
  }
}

function genTs() {
  const L = [
    '// Generated by scripts/gen-protocol.mjs from protocol/schema.mjs: do not edit.',
    '/* eslint-disable */',
    "import { bytesHex, textHex, checkEvent, type U64, type FieldSpec } from './protocol.js';",
    '',
  ];
  const enc = [];
  for (const m of messages) {
    const T = m.channel === 'event' ? `Ev${pascal(m.name)}` : `${pascal(m.channel)}${pascal(m.name)}`;
    const opt = (f) => f.opt || (f.nullable && f.type !== 'hex');
    if (m.channel === 'event') {
      if (m.ts) L.push(`/** ${m.doc} */`, `export type ${T} = { ev: '${m.name}' } & ${m.ts};`);
      else {
        L.push(`/** ${m.doc} */`, `export interface ${T} {`, `  ev: '${m.name}';`);
        for (const f of m.fields) L.push(`  ${f.name}${f.opt ? '?' : ''}: ${tsType(f, true)};`);
        L.push('}');
      }
    } else {
      L.push(`/** ${m.channel} ${m.name}: ${m.doc} */`, `export interface ${T} {`);
      for (const f of m.fields) L.push(`  ${camel(f.name)}${opt(f) ? '?' : ''}: ${tsType(f, false)};`);
      L.push('}');
      const words = [m.name];
      const reqs = m.fields.filter((f) => !f.opt);
      const opts = m.fields.filter((f) => f.opt);
      const body = reqs.map(tsEncode);
      let tail = '';
      // optional trailing fields: each only when it and every one before it is given
      for (let k = opts.length - 1; k >= 0; k--) tail = `\${m.${camel(opts[k].name)} !== undefined ? \` ${tsEncode(opts[k])}${tail}\` : ''}`;
      const fn = `${m.channel}${pascal(m.name)}`;
      L.push(m.fields.length ? `export const ${fn} = (m: ${T}): string => \`${[...words, ...body].join(' ')}${tail}\`;` : `export const ${fn} = (): string => '${m.name}';`, '');
      enc.push(`  '${m.channel} ${m.name}': ${fn} as (m: never) => string,`);
    }
  }
  const evs = messages.filter((m) => m.channel === 'event');
  L.push(`export type HelperEvent = ${evs.map((m) => `Ev${pascal(m.name)}`).join(' | ')};`);
  L.push(`export type EventName = HelperEvent['ev'];`);
  L.push(`export type EventOf<K extends EventName> = Extract<HelperEvent, { ev: K }>;`, '');
  L.push('/** The fields of each event as the schema lists them (checked by decodeEvent). */');
  L.push('const EVENT_FIELDS: Record<string, readonly FieldSpec[]> = {');
  for (const m of evs) L.push(`  '${m.name}': ${JSON.stringify(m.hand && m.ts ? [] : m.fields.map((f) => ({ name: f.name, type: f.type, ...(f.opt ? { opt: true } : {}) })))},`);
  L.push('};', '');
  L.push('/** One line of the helper\'s fd 1 as a typed event; throws on a line that does not fit the schema. */');
  L.push('export function decodeEvent(line: string): HelperEvent {');
  L.push('  return checkEvent(JSON.parse(line) as unknown, EVENT_FIELDS) as HelperEvent;');
  L.push('}', '');
  L.push('/** Every encoder by "<channel> <verb>" (the contract test walks them). */');
  L.push('export const ENCODERS: Record<string, (m: never) => string> = {', ...enc, '};', '');
  return L.join('\n');
}

function write(rel, text) {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  if (existsSync(file) && readFileSync(file, 'utf8') === text) return;
  writeFileSync(file, text);
}

const c = genC();
write('native/helper/gen/proto_gen.h', c.h);
write('native/helper/gen/proto_gen.c', c.c);
write('src/kernel/protocol.gen.ts', genTs());
