/** Checks of the IPC record: System V segments, semaphore sets and message queues. */
import type { CborValue } from './cbor.js';
import { Where, arr, bool, bytes, field, int, obj, u64, type Obj } from './check.js';
import type { ImageIpc, IpcPerm, MsgImage, SemImage, ShmImage } from './types.js';

/** largest segment ucr restores (1 TiB) */
export const SHM_MAX = 2 ** 40;
/** the kernel's bounds: SEMMSL, SEMVMX; a message queue's bytes (msgmnb may be raised to INT_MAX) */
const SEMMSL = 32000;
const SEMVMX = 32767;
const MSG_BYTES_MAX = 0x7fffffff;
/** messages travel in one helper plan line (hex): keep a queue's contents bounded */
export const MSG_QUEUE_MAX = 4 << 20;

function perm(o: Obj, w: Where): IpcPerm {
  const u32 = (k: string) => field(o, k, w, (y, ww) => int(y, ww, 0, 0xffffffff));
  return {
    id: field(o, 'id', w, (y, ww) => int(y, ww, 0, 0x7fffffff)),
    key: field(o, 'key', w, (y, ww) => {
      if (typeof y === 'number' && Number.isInteger(y) && y < 0 && y >= -0x80000000) return y;
      return int(y, ww, 0, 0x7fffffff);
    }),
    mode: field(o, 'mode', w, (y, ww) => int(y, ww, 0, 0o777)),
    uid: u32('uid'),
    gid: u32('gid'),
    cuid: u32('cuid'),
    cgid: u32('cgid'),
  };
}

function unique<T extends IpcPerm>(list: T[], w: Where, what: string): T[] {
  const ids = new Set(list.map((x) => x.id));
  if (ids.size !== list.length) w.fail(`duplicate ${what} ids`);
  const keys = list.filter((x) => x.key !== 0).map((x) => x.key);
  if (new Set(keys).size !== keys.length) w.fail(`duplicate ${what} keys`);
  return list;
}

export function checkIpc(v: CborValue, path: string): ImageIpc {
  const w = new Where(path);
  const o = obj(v, w);
  const shm = arr(o.shm, w.at('shm'), 4096).map((x, i): ShmImage => {
    const sw = w.at('shm').at(i);
    const s = obj(x, sw);
    const seg: ShmImage = {
      ...perm(s, sw),
      size: field(s, 'size', sw, (y, ww) => int(y, ww, 1, SHM_MAX)),
      destroyed: field(s, 'destroyed', sw, bool),
      locked: field(s, 'locked', sw, bool),
    };
    if (seg.destroyed && seg.key !== 0) sw.fail('a segment marked for destruction has no key');
    return seg;
  });
  const sem = arr(o.sem, w.at('sem'), 4096).map((x, i): SemImage => {
    const sw = w.at('sem').at(i);
    const s = obj(x, sw);
    const values = arr(s.values, sw.at('values'), SEMMSL).map((y, k) => int(y, sw.at('values').at(k), 0, SEMVMX));
    if (!values.length) sw.at('values').fail('a semaphore set has at least one semaphore');
    return { ...perm(s, sw), values };
  });
  const msg = arr(o.msg, w.at('msg'), 4096).map((x, i): MsgImage => {
    const mw = w.at('msg').at(i);
    const m = obj(x, mw);
    let total = 0;
    const messages = arr(m.messages, mw.at('messages'), 1 << 20).map((y, k) => {
      const ew = mw.at('messages').at(k);
      const e = obj(y, ew);
      const type = field(e, 'type', ew, u64);
      if (type === 0 || BigInt(type) > 0x7fffffffffffffffn) ew.at('type').fail('message types are 1..2^63-1');
      const data = field(e, 'data', ew, (z, ww) => bytes(z, ww, 0, MSG_QUEUE_MAX));
      total += data.length;
      if (total > MSG_QUEUE_MAX) mw.fail(`more than ${MSG_QUEUE_MAX} bytes of messages`);
      return { type, data };
    });
    return { ...perm(m, mw), qbytes: field(m, 'qbytes', mw, (z, ww) => int(z, ww, 0, MSG_BYTES_MAX)), messages };
  });
  return {
    ownNamespace: field(o, 'ownNamespace', w, bool),
    shm: unique(shm, w.at('shm'), 'segment'),
    sem: unique(sem, w.at('sem'), 'semaphore set'),
    msg: unique(msg, w.at('msg'), 'message queue'),
  };
}
