/**
 * A task's mappings and page runs (the TASK record's vmas, pageRuns, inherited, guards): sorted,
 * page aligned, inside the user address space, each run inside a mapping that carries pages.
 *
 * A process may have tens of thousands of mappings: the usual ones (anonymous, heap, stack, a
 * mapped file, with no other fields) and every run are taken by a fast path that checks the
 * very same conditions without building a Where and a closure per field; anything else, and
 * anything that fails there, goes through the full checks, which name the field that is wrong.
 */
import type { CborValue } from './cbor.js';
import { type Obj, Where, addr, arr, bool, bytes, field, int, isInt, isMap, isPathText, obj, pathText, shown, str } from './check.js';
import { PAGE_SIZE, TASK_END } from './format.js';
import type { VmaImage } from './types.js';

const KINDS = ['anon', 'file', 'heap', 'stack', 'object', 'sysvshm', 'aio', 'ring'];
/** Most completed events not yet reaped one AIO ring may carry (32 bytes each: 4 MiB, twice the
 * events of aio-max-nr's default; one plan line holds them: restore_aio.c). */
export const AIO_EVENTS_MAX = 131072;

function isAddr(v: CborValue | undefined): v is number {
  return isInt(v, 0, TASK_END) && v % PAGE_SIZE === 0;
}

/** An anonymous, heap, stack or file mapping with nothing else (no obj, shm, ring), all of it
 * valid: the same value the full checks give; undefined for anything else. */
function fastVma(x: CborValue, prevEnd: number): VmaImage | undefined {
  if (!isMap(x)) return undefined;
  const { start, end, kind, prot, shared, pgoff, madv, fill } = x;
  if (!isAddr(start) || !isAddr(end) || end <= start || start < prevEnd) return undefined;
  if (x.obj !== undefined || x.shm !== undefined || x.ring !== undefined || x.aio !== undefined) return undefined;
  if (!isInt(prot, 0, 7) || typeof shared !== 'boolean' || !isInt(pgoff, 0, Number.MAX_SAFE_INTEGER) || !isInt(madv, 0, 0x3fff) || typeof fill !== 'boolean') return undefined;
  if (kind === 'anon' || kind === 'heap' || kind === 'stack') {
    if (x.path !== undefined || x.file !== undefined) return undefined;
    return { start, end, prot, shared, kind, path: undefined, pgoff, file: undefined, madv, fill };
  }
  if (kind !== 'file') return undefined;
  const path = x.path;
  if (!isPathText(path)) return undefined;
  let file: VmaImage['file'];
  if (x.file !== undefined) {
    const f = x.file;
    if (!isMap(f) || !isFileIdentity(f)) return undefined;
    file = { size: f.size, mtimeMs: f.mtimeMs, ino: f.ino, ...(f.dev !== undefined ? { dev: f.dev } : {}) };
  }
  return { start, end, prot, shared, kind, path, pgoff, file, madv, fill };
}

/** A mapped file's identity as fullVma takes it: size, mtimeMs, ino and an optional dev, each a
 * safe integer of at least 0 (a fast path's test, and what 1.10's `fmap` may pack). */
export function isFileIdentity(f: { size?: unknown; mtimeMs?: unknown; ino?: unknown; dev?: unknown }): f is NonNullable<VmaImage['file']> {
  const u = Number.MAX_SAFE_INTEGER;
  const { size, mtimeMs, ino, dev } = f as Record<string, CborValue>;
  return isInt(size, 0, u) && isInt(mtimeMs, 0, u) && isInt(ino, 0, u) && (dev === undefined || isInt(dev, 0, u));
}

function fullVma(x: CborValue, vw: Where, prevEnd: number): VmaImage {
  const o = obj(x, vw);
  const start = field(o, 'start', vw, (y, ww) => addr(y, ww, true));
  const end = field(o, 'end', vw, (y, ww) => addr(y, ww, true));
  if (end <= start) vw.fail('mapping ends before it starts');
  if (start < prevEnd) vw.fail('mappings overlap or are out of order');
  const kind = field(o, 'kind', vw, str);
  if (!KINDS.includes(kind)) vw.at('kind').fail(`unknown mapping kind ${shown(kind)}`);
  const path = o.path === undefined ? undefined : field(o, 'path', vw, (y, ww) => pathText(y, ww));
  if (kind === 'file' && !path) vw.fail('file mapping without a path');
  const objId = o.obj === undefined ? undefined : field(o, 'obj', vw, (y, ww) => int(y, ww, 0, 1 << 30));
  if ((kind === 'object') !== (objId !== undefined)) vw.fail('a mapping of a content object names it, and only it');
  const file = o.file === undefined ? undefined : obj(o.file, vw.at('file'));
  const shmo = o.shm === undefined ? undefined : obj(o.shm, vw.at('shm'));
  if ((kind === 'sysvshm') !== (shmo !== undefined)) vw.fail('System V mapping without its segment (or a segment on another kind)');
  const shm = shmo && {
    id: field(shmo, 'id', vw.at('shm'), (y, ww) => int(y, ww, 0, 0x7fffffff)),
    flags: field(shmo, 'flags', vw.at('shm'), (y, ww) => int(y, ww, 0, 0o110000)),
  };
  if (shm && shm.flags & ~0o110000) vw.at('shm').fail('unknown shmat flags');
  const v: VmaImage = {
    start,
    end,
    prot: field(o, 'prot', vw, (y, ww) => int(y, ww, 0, 7)),
    shared: field(o, 'shared', vw, bool),
    kind: kind as VmaImage['kind'],
    path,
    ...(objId !== undefined ? { obj: objId } : {}),
    pgoff: field(o, 'pgoff', vw, (y, ww) => int(y, ww)),
    file: file && {
      size: field(file, 'size', vw.at('file'), (y, ww) => int(y, ww)),
      mtimeMs: field(file, 'mtimeMs', vw.at('file'), (y, ww) => int(y, ww)),
      ino: field(file, 'ino', vw.at('file'), (y, ww) => int(y, ww)),
      ...(file.dev !== undefined ? { dev: field(file, 'dev', vw.at('file'), (y, ww) => int(y, ww)) } : {}),
    },
    madv: field(o, 'madv', vw, (y, ww) => int(y, ww, 0, 0x3fff)), // the 14 MADV_BIT_* of native/helper/restore/plan.h
    fill: field(o, 'fill', vw, bool),
    ...(shm ? { shm } : {}),
    ...(o.ring !== undefined ? { ring: field(o, 'ring', vw, (y, ww) => int(y, ww, 1, Number.MAX_SAFE_INTEGER)) } : {}),
  };
  // a packet socket's rings: shared, no pages, names the socket (its file: restore-plan.ts)
  if ((kind === 'ring') !== (v.ring !== undefined) || (v.ring !== undefined && (v.fill || !v.shared || v.path !== undefined || v.madv || v.pgoff)))
    vw.fail('a mapping of packet rings is shared, carries no pages and names its socket, and only it');
  if (shm && (v.fill || !v.shared)) vw.fail('a System V mapping is shared and carries no pages');
  // an AIO ring (io_setup): shared, read-write, no pages, at most 64 MiB (restore_aio.c)
  if (kind === 'aio' && (v.fill || !v.shared || v.prot !== 3 || v.path !== undefined || v.madv || end - start > 64 << 20)) vw.fail('an AIO ring is shared, read-write, of at most 64 MiB and carries no pages');
  if (o.aio !== undefined) {
    if (kind !== 'aio') vw.at('aio').fail('a head and tail on a mapping that is no AIO ring');
    v.aio = aioState(obj(o.aio, vw.at('aio')), (end - start - 32) / 32, vw.at('aio'));
  }
  return v;
}

/** An AIO ring's head, tail and unreaped events (format 1.7), checked against its nr events:
 * head and tail below nr, exactly (tail - head) mod nr events of 32 bytes. */
function aioState(o: Obj, nr: number, w: Where): NonNullable<VmaImage['aio']> {
  const head = field(o, 'head', w, (y, ww) => int(y, ww, 0, nr - 1));
  const tail = field(o, 'tail', w, (y, ww) => int(y, ww, 0, nr - 1));
  const n = (tail - head + nr) % nr;
  if (n > AIO_EVENTS_MAX) w.fail(`${n} events not yet reaped, more than ${AIO_EVENTS_MAX}`);
  const events = field(o, 'events', w, (y, ww) => bytes(y, ww, n * 32, n * 32));
  return { head, tail, events };
}

export function checkVmas(list: CborValue | undefined, w: Where): VmaImage[] {
  const a = arr(list, w);
  const out: VmaImage[] = new Array(a.length);
  let prevEnd = 0;
  for (let i = 0; i < a.length; i++) {
    const v = fastVma(a[i]!, prevEnd) ?? fullVma(a[i]!, w.at(i), prevEnd);
    prevEnd = v.end;
    out[i] = v;
  }
  return out;
}

export function checkRuns(list: CborValue | undefined, vmas: VmaImage[], w: Where, pages = true): [number, number][] {
  const a = arr(list, w);
  const out: [number, number][] = new Array(a.length);
  let prevEnd = 0;
  let v = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    // the fast path: a pair of an aligned address and a page count, in order, inside a mapping
    if (Array.isArray(x) && x.length === 2) {
      const s = x[0], n = x[1]; // not destructured: cold, that is the iterator protocol per run
      if (isAddr(s) && isInt(n, 1, TASK_END / PAGE_SIZE) && s >= prevEnd) {
        const end = s + n * PAGE_SIZE;
        while (v < vmas.length && vmas[v]!.end <= s) v++;
        const m = vmas[v];
        if (m && s >= m.start && end <= m.end && (!pages || m.fill)) {
          prevEnd = end;
          out[i] = x as [number, number];
          continue;
        }
      }
    }
    const rw = w.at(i);
    const r = arr(x, rw, 2);
    const s = addr(r[0], rw.at(0), true);
    const n = int(r[1], rw.at(1), 1, TASK_END / PAGE_SIZE);
    const end = s + n * PAGE_SIZE;
    if (s < prevEnd) rw.fail('page runs overlap or are out of order');
    prevEnd = end;
    while (v < vmas.length && vmas[v]!.end <= s) v++;
    const m = vmas[v];
    if (!m || s < m.start || end > m.end || (pages && !m.fill)) rw.fail(`pages 0x${s.toString(16)}+${n} lie outside any mapping${pages ? ' that carries pages' : ''}`);
    out[i] = [s, n];
  }
  return out;
}
