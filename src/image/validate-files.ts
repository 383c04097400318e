/** Checks of the FILES record: open-file objects (each kind's own fields: src/image/kinds/), pipes,
 * ptys and content objects. */
import type { CborValue } from './cbor.js';
import { PAGE_SIZE } from './format.js';
import { MAX_FD, PID_MAX, OBJECT_MAX, PLAN_DATA_MAX, Where, arr, bool, bytes, field, int, obj, shown, str } from './check.js';
import type { FileImage, FileBase, ImageFiles, LockImage, PipeImage, ObjectImage, TtyImage } from './types.js';
import { KIND_FIELDS, formatOf } from './kinds/index.js';
import { OBJECT_KINDS, type ObjectKind } from './object-kinds.js';
import type { LinkContext, ReadContext } from './kinds/kind.js';
import { checkTermios } from './termios.js';

export function checkFiles(v: CborValue, path: string): ImageFiles {
  const w = new Where(path);
  const o = obj(v, w);
  const pipes = arr(o.pipes, w.at('pipes')).map((x, i): PipeImage => {
    const pw = w.at('pipes').at(i);
    const p = obj(x, pw);
    const size = field(p, 'size', pw, (y, ww) => int(y, ww, 4096, 1 << 26));
    const path = p.path === undefined ? undefined : field(p, 'path', pw, (y, ww) => str(y, ww, 4096));
    if (path !== undefined && !path.startsWith('/')) pw.at('path').fail('a FIFO path must be absolute');
    const ghost = p.ghost === undefined ? undefined : { mode: field(obj(p.ghost, pw.at('ghost')), 'mode', pw.at('ghost'), (y, ww) => int(y, ww, 0, 0o7777)) };
    if (ghost && path === undefined) pw.at('ghost').fail('a removed FIFO without its path');
    return {
      id: field(p, 'id', pw, (y, ww) => int(y, ww, 0, 1 << 30)),
      size,
      data: field(p, 'data', pw, (y, ww) => bytes(y, ww, 0, Math.min(size, PLAN_DATA_MAX))),
      ...(path !== undefined ? { path } : {}),
      ...(ghost ? { ghost } : {}),
    };
  });
  const pipeById = new Map(pipes.map((p) => [p.id, p]));
  const ttys = o.ttys === undefined ? undefined : checkTtys(o.ttys, w.at('ttys'));
  const ttyIndexes = new Set((ttys ?? []).map((t) => t.index));
  if (pipeById.size !== pipes.length) w.at('pipes').fail('duplicate pipe ids');
  const objects = o.objects === undefined ? undefined : checkObjects(o.objects, w.at('objects'));
  const objectById = new Map((objects ?? []).map((x) => [x.id, x]));
  const ctx: ReadContext = { pipes: pipeById, ttys: ttyIndexes, objects: objectById };
  const files = arr(o.files, w.at('files')).map((x, i): FileImage => checkFile(x, w.at('files').at(i), ctx));
  if (new Set(files.map((f) => f.id)).size !== files.length) w.at('files').fail('duplicate file ids');
  const link: LinkContext = { files, byId: new Map(files.map((f) => [f.id, f])), objects };
  files.forEach((f, i) => formatOf(f.kind).link?.(f, w.at('files').at(i), link));
  return { files, pipes, ...(objects ? { objects } : {}), ...(ttys ? { ttys } : {}) };
}

/** One open file: what every file has, then its kind's own fields (src/image/kinds/). */
function checkFile(x: CborValue, fw: Where, ctx: ReadContext): FileImage {
  const f = obj(x, fw);
  const kind = field(f, 'kind', fw, (y, ww) => str(y, ww, 32));
  const format = formatOf(kind);
  if (!format) return fw.at('kind').fail(`unknown file kind ${shown(kind)}`);
  const leak = f.leak === undefined ? undefined : obj(f.leak, fw.at('leak'));
  // in the order a checkpoint writes them: what every file has, the kind's own, then locks,
  // leak and signal owner
  const base = {
    id: field(f, 'id', fw, (y, ww) => int(y, ww, 0, 1 << 30)),
    kind,
    path: field(f, 'path', fw, str),
    // the file's f_flags: no open flag is bit 31 (and the flags are 32-bit signed in JS's bitwise ops)
    flags: field(f, 'flags', fw, (y, ww) => int(y, ww, 0, 0x7fffffff)),
    pos: field(f, 'pos', fw, (y, ww) => int(y, ww)),
  };
  const file = {
    ...base,
    ...format.read(f, fw, base, ctx),
    ...(f.locks !== undefined ? { locks: checkLocks(f.locks, fw.at('locks')) } : {}),
    ...(leak && {
      leak: {
        pid: field(leak, 'pid', fw.at('leak'), (y, ww) => int(y, ww, 1, PID_MAX)),
        fd: field(leak, 'fd', fw.at('leak'), (y, ww) => int(y, ww, 0, MAX_FD)),
        comm: field(leak, 'comm', fw.at('leak'), (y, ww) => str(y, ww, 16)),
      },
    }),
    ...(f.fown !== undefined ? { fown: checkFown(f.fown, fw.at('fown')) } : {}),
  } as FileImage;
  // a field of another kind: a record that is not what its kind says
  for (const k of Object.keys(f)) if (KIND_FIELDS.has(k) && !format.fields.includes(k) && f[k] !== undefined) fw.at(k).fail(`not a field of a ${kind} file`);
  return file;
}

function checkLocks(v: CborValue, w: Where): LockImage[] {
  return arr(v, w, 1 << 16).map((x, k) => {
    const lw = w.at(k);
    const l = obj(x, lw);
    const kind = field(l, 'kind', lw, str);
    if (kind !== 'flock' && kind !== 'ofd' && kind !== 'posix' && kind !== 'lease') lw.at('kind').fail(`unknown lock kind ${shown(kind)}`);
    const type = field(l, 'type', lw, str);
    if (type !== 'read' && type !== 'write') lw.at('type').fail('expected read or write');
    const start = field(l, 'start', lw, (y, ww) => int(y, ww));
    const end = field(l, 'end', lw, (y, ww) => int(y, ww, -1));
    if (end !== -1 && end < start) lw.fail('the lock ends before it starts');
    const lock: LockImage = { kind: kind as LockImage['kind'], type: type as LockImage['type'], start, end };
    if (kind === 'posix' || kind === 'lease' || (kind === 'flock' && l.task !== undefined)) {
      lock.task = field(l, 'task', lw, (y, ww) => int(y, ww, 1, PID_MAX));
      lock.fd = field(l, 'fd', lw, (y, ww) => int(y, ww, 0, MAX_FD));
    }
    return lock;
  });
}

function checkFown(v: CborValue, w: Where): NonNullable<FileBase['fown']> {
  const o = obj(v, w);
  const type = field(o, 'type', w, str);
  if (type !== 'tid' && type !== 'pid' && type !== 'pgrp') w.at('type').fail('expected tid, pid or pgrp');
  // pid 0: no owner, only the signal F_SETSIG chose
  return { type: type as 'tid' | 'pid' | 'pgrp', pid: field(o, 'pid', w, (y, ww) => int(y, ww, 0, PID_MAX)), sig: field(o, 'sig', w, (y, ww) => int(y, ww, 0, 64)) };
}

function checkObjects(v: CborValue, w: Where): ObjectImage[] {
  const list = arr(v, w).map((x, i): ObjectImage => {
    const sw = w.at(i);
    const s = obj(x, sw);
    const kind = field(s, 'kind', sw, str);
    if (!Object.hasOwn(OBJECT_KINDS, kind)) sw.at('kind').fail(`unknown content object kind ${shown(kind)}`);
    const k = OBJECT_KINDS[kind as ObjectKind];
    const size = field(s, 'size', sw, (y, ww) => int(y, ww, 0, OBJECT_MAX - 1));
    if (k.pages && (size === 0 || size % PAGE_SIZE)) sw.at('size').fail(`${k.noun} of a size that is not whole pages`);
    const name = s.name === undefined ? undefined : field(s, 'name', sw, (y, ww) => str(y, ww, 4096));
    if (k.name !== 'none' && name === undefined) sw.fail(`${kind} without a name`);
    if (k.name === 'memfd' && name!.length > 249) sw.at('name').fail('memfd name too long');
    const pathed = k.name === 'path';
    if (pathed && (!name!.startsWith('/') || name!.split('/').includes('..'))) sw.at('name').fail(`${k.a} needs an absolute path`);
    const mode = s.mode === undefined ? undefined : field(s, 'mode', sw, (y, ww) => int(y, ww, 0, 0o7777));
    if (pathed && mode === undefined) sw.fail(`${k.a} needs a mode`);
    if (!k.owned && mode !== undefined) sw.fail(`${k.a} has no mode`);
    if (k.empty && size !== 0) sw.at('size').fail(`${k.a} has no contents`);
    const inode = s.inode === undefined ? undefined : obj(s.inode, sw.at('inode'));
    if (!!k.inode !== (inode !== undefined)) sw.fail('a tmpfs file, and only it, has its inode recorded');
    const owner = s.owner === undefined ? undefined : (arr(s.owner, sw.at('owner'), 2).map((y, k) => int(y, sw.at('owner').at(k), 0, 0xfffffffe)) as [number, number]);
    if (owner && (owner.length !== 2 || !k.owned)) sw.at('owner').fail('expected [uid, gid] of a memfd, unlinked or tmpfs file or removed directory');
    const tw = sw.at('times');
    const times = s.times === undefined ? undefined : (arr(s.times, tw, 4).map((y, k) => int(y, tw.at(k), k % 2 ? 0 : -(2 ** 40), k % 2 ? 999_999_999 : 2 ** 40)) as [number, number, number, number]);
    if (times && (times.length !== 4 || !k.timed)) tw.fail('expected [atime s, ns, mtime s, ns] of a memfd, unlinked file or removed directory');
    const limit = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    let prevEnd = 0;
    const runs = arr(s.runs, sw.at('runs')).map((r, k): [number, number] => {
      const rw = sw.at('runs').at(k);
      const pair = arr(r, rw, 2);
      const off = int(pair[0], rw.at(0), 0, OBJECT_MAX);
      const n = int(pair[1], rw.at(1), 1, OBJECT_MAX / PAGE_SIZE);
      if (off % PAGE_SIZE || off < prevEnd || off + n * PAGE_SIZE > limit) rw.fail('runs out of order, unaligned or beyond the object');
      prevEnd = off + n * PAGE_SIZE;
      return [off, n];
    });
    if (k.empty && runs.length) sw.at('runs').fail(`${k.a} has no contents`);
    return {
      id: field(s, 'id', sw, (y, ww) => int(y, ww, 0, (1 << 30) - 1)),
      kind: kind as ObjectKind,
      ...(name !== undefined ? { name } : {}),
      ...(mode !== undefined ? { mode } : {}),
      ...(owner ? { owner } : {}),
      ...(inode
        ? { inode: { dev: field(inode, 'dev', sw.at('inode'), (y, ww) => int(y, ww)), ino: field(inode, 'ino', sw.at('inode'), (y, ww) => int(y, ww)) } }
        : {}),
      size,
      seals: field(s, 'seals', sw, (y, ww) => int(y, ww, 0, 0xffff)),
      ...(times ? { times } : {}),
      runs,
    };
  });
  if (new Set(list.map((s) => s.id)).size !== list.length) w.fail('duplicate content object ids');
  return list;
}


function checkTtyOwner(v: CborValue, w: Where): NonNullable<TtyImage['owner']> {
  const o = obj(v, w);
  return { uid: field(o, 'uid', w, (y, ww) => int(y, ww, 0, 0xfffffffe)), gid: field(o, 'gid', w, (y, ww) => int(y, ww, 0, 0xfffffffe)), mode: field(o, 'mode', w, (y, ww) => int(y, ww, 0, 0o7777)) };
}

/** bytes queued in a pty (at most TTYQ each way: protocol/schema.mjs) */
function checkTtyQueued(v: CborValue, w: Where): NonNullable<TtyImage['queued']> {
  const o = obj(v, w);
  const max = 1 << 16;
  const lines = o.lines === undefined ? undefined : arr(o.lines, w.at('lines'), 4096).map((y, i) => bytes(y, w.at('lines').at(i), 0, 4096));
  const q = {
    ...(o.out !== undefined ? { out: field(o, 'out', w, (y, ww) => bytes(y, ww, 1, max)) } : {}),
    ...(lines ? { lines } : {}),
    ...(o.partial !== undefined ? { partial: field(o, 'partial', w, (y, ww) => bytes(y, ww, 1, max)) } : {}),
  };
  if ((lines ?? []).reduce((n, l) => n + l.length, q.partial?.length ?? 0) > max) w.fail(`more than ${max} bytes of input`);
  return q;
}

function checkTtys(v: CborValue, w: Where): TtyImage[] {
  const list = arr(v, w, 4096).map((x, i): TtyImage => {
    const tw = w.at(i);
    const t = obj(x, tw);
    return {
      index: field(t, 'index', tw, (y, ww) => int(y, ww, 0, (1 << 20) - 1)),
      locked: field(t, 'locked', tw, bool),
      packet: field(t, 'packet', tw, bool),
      exclusive: field(t, 'exclusive', tw, bool),
      ...(t.termios !== undefined ? checkTermios(t, tw) : {}),
      ...(t.owner !== undefined ? { owner: checkTtyOwner(t.owner, tw.at('owner')) } : {}),
      ...(t.queued !== undefined ? { queued: checkTtyQueued(t.queued, tw.at('queued')) } : {}),
    };
  });
  if (new Set(list.map((t) => t.index)).size !== list.length) w.fail('duplicate pty indexes');
  for (const t of list) if (t.termios && t.winsize?.length !== 4) w.fail('a pty with settings needs a window size');
  return list;
}
