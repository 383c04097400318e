/** Checks of the FILES record: open-file objects and pipes. */
import type { CborValue } from './cbor.js';
import { PAGE_SIZE } from './format.js';
import { MAX_FD, PID_MAX, OBJECT_MAX, PLAN_DATA_MAX, Where, arr, bool, bytes, field, int, obj, pathText, shown, str, u64 } from './check.js';
import type { FileImage, ImageFiles, LockImage, PipeImage, ObjectImage, TtyImage } from './types.js';
import { checkInet, checkInetKind } from './validate-inet.js';
import { checkUnix, checkUnixLinks } from './validate-unix.js';

export function checkFiles(v: CborValue, path: string): ImageFiles {
  const w = new Where(path);
  const o = obj(v, w);
  const pipes = arr(o.pipes, w.at('pipes')).map((x, i): PipeImage => {
    const pw = w.at('pipes').at(i);
    const p = obj(x, pw);
    const size = field(p, 'size', pw, (y, ww) => int(y, ww, 4096, 1 << 26));
    const path = p.path === undefined ? undefined : field(p, 'path', pw, (y, ww) => str(y, ww, 4096));
    if (path !== undefined && !path.startsWith('/')) pw.at('path').fail('a FIFO path must be absolute');
    return {
      id: field(p, 'id', pw, (y, ww) => int(y, ww, 0, 1 << 30)),
      size,
      data: field(p, 'data', pw, (y, ww) => bytes(y, ww, 0, Math.min(size, PLAN_DATA_MAX))),
      ...(path !== undefined ? { path } : {}),
    };
  });
  const pipeById = new Map(pipes.map((p) => [p.id, p]));
  const ttys = o.ttys === undefined ? undefined : checkTtys(o.ttys, w.at('ttys'));
  const ttyIndexes = new Set((ttys ?? []).map((t) => t.index));
  if (pipeById.size !== pipes.length) w.at('pipes').fail('duplicate pipe ids');
  const objects = o.objects === undefined ? undefined : checkObjects(o.objects, w.at('objects'));
  const objectById = new Map((objects ?? []).map((x) => [x.id, x]));
  const files = arr(o.files, w.at('files')).map((x, i): FileImage => {
    const fw = w.at('files').at(i);
    const f = obj(x, fw);
    const pipe = f.pipe === undefined ? undefined : obj(f.pipe, fw.at('pipe'));
    const leak = f.leak === undefined ? undefined : obj(f.leak, fw.at('leak'));
    const file: FileImage = {
      id: field(f, 'id', fw, (y, ww) => int(y, ww, 0, 1 << 30)),
      kind: field(f, 'kind', fw, (y, ww) => str(y, ww, 32)),
      path: field(f, 'path', fw, str),
      flags: field(f, 'flags', fw, (y, ww) => int(y, ww, 0, 0xffffffff)),
      pos: field(f, 'pos', fw, (y, ww) => int(y, ww)),
      stdio: f.stdio === undefined ? undefined : field(f, 'stdio', fw, (y, ww) => int(y, ww, 0, 2)),
      params: f.params === undefined ? undefined : arr(f.params, fw.at('params'), 16).map((y, i) => u64(y, fw.at('params').at(i))),
      ...(f.obj !== undefined ? { obj: field(f, 'obj', fw, (y, ww) => int(y, ww, 0, 1 << 30)) } : {}),
      pipe: pipe && {
        id: field(pipe, 'id', fw.at('pipe'), (y, ww) => int(y, ww, 0, 1 << 30)),
        end: field(pipe, 'end', fw.at('pipe'), (y, ww) => {
          const e = str(y, ww);
          return e === 'read' || e === 'write' || e === 'both' ? e : ww.fail('expected read, write or both');
        }),
      },
      leak: leak && {
        pid: field(leak, 'pid', fw.at('leak'), (y, ww) => int(y, ww, 1, PID_MAX)),
        fd: field(leak, 'fd', fw.at('leak'), (y, ww) => int(y, ww, 0, MAX_FD)),
        comm: field(leak, 'comm', fw.at('leak'), (y, ww) => str(y, ww, 16)),
      },
      unix: f.unix === undefined ? undefined : checkUnix(f.unix, fw.at('unix')),
      ...(f.proc !== undefined ? { proc: checkProc(f.proc, fw.at('proc')) } : {}),
      ...(f.fown !== undefined ? { fown: checkFown(f.fown, fw.at('fown')) } : {}),
      ...(f.inet !== undefined ? { inet: checkInet(f.inet, fw.at('inet')) } : {}),
    };
    checkInetKind(file, fw);
    checkParams(file, fw);
    if (file.kind === 'pty' && f.tty === undefined) fw.fail('a terminal end without its pty');
    // the kinds the helper reopens by path
    if (file.kind === 'regular' || file.kind === 'device') pathText(file.path, fw.at('path'), true);
    if ((file.kind === 'pipe' || file.kind === 'fifo') && (!file.pipe || !pipeById.has(file.pipe.id))) fw.fail('pipe end of an unknown pipe');
    const named = file.pipe && pipeById.get(file.pipe.id)?.path !== undefined;
    if (file.pipe && (file.kind === 'fifo') !== named) fw.fail('a FIFO end of an anonymous pipe, or the reverse');
    if (file.pipe?.end === 'both' && file.kind !== 'fifo') fw.fail('only a FIFO can be open for both reading and writing');
    if (f.epoll !== undefined) {
      if (file.kind !== 'epoll') fw.fail('epoll targets on a file that is not an epoll');
      file.epoll = arr(f.epoll, fw.at('epoll'), 1 << 20).map((x, k) => {
        const ew = fw.at('epoll').at(k);
        const e = obj(x, ew);
        return {
          task: field(e, 'task', ew, (y, ww) => int(y, ww, 1, PID_MAX)),
          fd: field(e, 'fd', ew, (y, ww) => int(y, ww, 0, MAX_FD)),
          events: field(e, 'events', ew, (y, ww) => int(y, ww, 0, 0xffffffff)),
          data: field(e, 'data', ew, u64),
          ...(e.file !== undefined ? { file: field(e, 'file', ew, (y, ww) => int(y, ww, 0, 1 << 30)) } : {}),
        };
      });
    }
    if (f.tty !== undefined) {
      const tw = fw.at('tty');
      const t = obj(f.tty, tw);
      file.tty = { index: field(t, 'index', tw, (y, ww) => int(y, ww, 0, 1 << 20)), master: field(t, 'master', tw, bool) };
      if (file.kind !== 'pty' || !ttyIndexes.has(file.tty.index)) tw.fail('a terminal end of an unknown pty');
    }
    if (f.locks !== undefined)
      file.locks = arr(f.locks, fw.at('locks'), 1 << 16).map((x, k) => {
        const lw = fw.at('locks').at(k);
        const l = obj(x, lw);
        const kind = field(l, 'kind', lw, str);
        if (kind !== 'flock' && kind !== 'ofd' && kind !== 'posix') lw.at('kind').fail(`unknown lock kind ${shown(kind)}`);
        const type = field(l, 'type', lw, str);
        if (type !== 'read' && type !== 'write') lw.at('type').fail('expected read or write');
        const start = field(l, 'start', lw, (y, ww) => int(y, ww));
        const end = field(l, 'end', lw, (y, ww) => int(y, ww, -1));
        if (end !== -1 && end < start) lw.fail('the lock ends before it starts');
        const lock: LockImage = { kind: kind as LockImage['kind'], type: type as LockImage['type'], start, end };
        if (kind === 'posix') {
          lock.task = field(l, 'task', lw, (y, ww) => int(y, ww, 1, PID_MAX));
          lock.fd = field(l, 'fd', lw, (y, ww) => int(y, ww, 0, MAX_FD));
        }
        return lock;
      });
    if (f.inotify !== undefined) {
      if (file.kind !== 'inotify') fw.fail('inotify watches on a file that is not an inotify');
      let prev = 0;
      file.inotify = arr(f.inotify, fw.at('inotify'), 1 << 20).map((x, k) => {
        const iw = fw.at('inotify').at(k);
        const e = obj(x, iw);
        const wd = field(e, 'wd', iw, (y, ww) => int(y, ww, 1, 0x7fffffff));
        if (wd <= prev) iw.fail('watch descriptors out of order');
        prev = wd;
        const path = field(e, 'path', iw, (y, ww) => str(y, ww, 4096));
        if (!path.startsWith('/')) iw.at('path').fail('a watched path must be absolute');
        return { wd, mask: field(e, 'mask', iw, (y, ww) => int(y, ww, 0, 0xffffffff)), path };
      });
    }
    if ((file.kind === 'proc') !== (file.proc !== undefined)) fw.fail('a /proc file without its task, or the reverse');
    const objKind = file.obj === undefined ? undefined : objectById.get(file.obj)?.kind;
    if ((file.kind === 'memfd' || file.kind === 'unlinked') && objKind !== file.kind && !(file.kind === 'unlinked' && objKind === 'unlinked-dir'))
      fw.fail(`${file.kind} fd of an unknown object`);
    return file;
  });
  if (new Set(files.map((f) => f.id)).size !== files.length) w.at('files').fail('duplicate file ids');
  files.forEach((f, i) => {
    // a queue of more than 4 MiB: a content object of kind 'queue' of exactly its size, only in
    // a connection restored with TCP_REPAIR (its peer inside, or kept established)
    const t = f.inet?.tcp;
    for (const [q, key] of [[t?.recvObj, 'recvObj'], [t?.sendObj, 'sendObj']] as const) {
      if (!q) continue;
      const o = objects?.find((m) => m.id === q[0]);
      const repaired = f.inet!.peer === 'inside' || (f.inet!.peer === 'outside' && f.inet!.policy === 'established');
      if (!o || o.kind !== 'queue' || o.size !== q[1] || !repaired) w.at('files').at(i).at('inet').at('tcp').at(key).fail('not a socket queue object of that size in a connection restored with TCP_REPAIR');
      if (key === 'sendObj' && t!.unsent > q[1]) w.at('files').at(i).at('inet').at('tcp').at('unsent').fail('more bytes never sent than queued');
    }
  });
  files.forEach((f, i) =>
    f.epoll?.forEach((t, k) => {
      const target = t.file === undefined ? undefined : files.find((x) => x.id === t.file);
      if (t.file !== undefined && (!target || target.kind === 'closed' || target.id === f.id)) w.at('files').at(i).at('epoll').at(k).at('file').fail('not another open file of the image');
    }),
  );
  checkUnixLinks(files, w.at('files'));
  return { files, pipes, ...(objects ? { objects } : {}), ...(ttys ? { ttys } : {}) };
}

/** How many params each kind carries (and what the helper takes of them): eventfd [count,
 * semaphore 0|1]; signalfd [mask]; timerfd [clock < 16, ticks, interval s, ns, value s, ns];
 * a regular file [size] or [size, dev, ino]. */
const PARAMS: Record<string, [number, number]> = { eventfd: [2, 2], signalfd: [1, 1], timerfd: [6, 6], regular: [0, 3] };
function checkParams(file: FileImage, w: Where): void {
  const [min, max] = PARAMS[file.kind] ?? [0, 16];
  const n = file.params?.length ?? 0;
  if (n < min || n > max) w.at('params').fail(`${n} values for a ${file.kind} file, expected ${min}..${max}`);
  if (file.kind === 'eventfd' && BigInt(file.params![1]!) > 1n) w.at('params').at(1).fail('expected 0 or 1');
  if (file.kind === 'timerfd' && BigInt(file.params![0]!) >= 16n) w.at('params').at(0).fail('not a clock id');
}

function checkFown(v: CborValue, w: Where): NonNullable<FileImage['fown']> {
  const o = obj(v, w);
  const type = field(o, 'type', w, str);
  if (type !== 'tid' && type !== 'pid' && type !== 'pgrp') w.at('type').fail('expected tid, pid or pgrp');
  // pid 0: no owner, only the signal F_SETSIG chose
  return { type: type as 'tid' | 'pid' | 'pgrp', pid: field(o, 'pid', w, (y, ww) => int(y, ww, 0, PID_MAX)), sig: field(o, 'sig', w, (y, ww) => int(y, ww, 0, 64)) };
}

/** A path below /proc/PID that stays inside it: no '.' or '..', no magic link (root, cwd, exe,
 * fd/N, map_files/..., ns/...: the kernel never shows them as the path of an open file). */
export function procSubPathOk(sub: string): boolean {
  if (sub === '') return true;
  if (!/^(\/[^/\0]+)+$/.test(sub)) return false;
  const parts = sub.split('/').slice(1);
  if (parts.some((p) => p === '.' || p === '..')) return false;
  return !['root', 'cwd', 'exe', 'ns', 'map_files'].includes(parts[0]!) && !(parts[0] === 'fd' && parts.length > 1);
}

/** A file of /proc/PID: its task and a path below it (see src/kernel/fds/proc.ts). */
function checkProc(v: CborValue, w: Where): NonNullable<FileImage['proc']> {
  const p = obj(v, w);
  const sub = field(p, 'sub', w, (y, ww) => str(y, ww, 4096));
  if (!procSubPathOk(sub)) w.at('sub').fail('not a path inside /proc/PID');
  return {
    pid: field(p, 'pid', w, (y, ww) => int(y, ww, 1, PID_MAX)),
    ...(p.tid !== undefined ? { tid: field(p, 'tid', w, (y, ww) => int(y, ww, 1, PID_MAX)) } : {}),
    sub,
  };
}

function checkObjects(v: CborValue, w: Where): ObjectImage[] {
  const list = arr(v, w).map((x, i): ObjectImage => {
    const sw = w.at(i);
    const s = obj(x, sw);
    const kind = field(s, 'kind', sw, str);
    if (kind !== 'anon' && kind !== 'memfd' && kind !== 'unlinked' && kind !== 'queue' && kind !== 'unlinked-dir' && kind !== 'tmpfs')
      sw.at('kind').fail(`unknown content object kind ${shown(kind)}`);
    const size = field(s, 'size', sw, (y, ww) => int(y, ww, 0, OBJECT_MAX - 1));
    if (kind === 'anon' && (size === 0 || size % PAGE_SIZE)) sw.at('size').fail('shared anonymous memory of a size that is not whole pages');
    const name = s.name === undefined ? undefined : field(s, 'name', sw, (y, ww) => str(y, ww, 4096));
    if (kind !== 'anon' && kind !== 'queue' && name === undefined) sw.fail(`${kind} without a name`);
    if (kind === 'memfd' && name!.length > 249) sw.at('name').fail('memfd name too long');
    const pathed = kind === 'unlinked' || kind === 'unlinked-dir' || kind === 'tmpfs';
    const what = kind === 'tmpfs' ? 'a tmpfs file' : kind === 'unlinked-dir' ? 'a removed directory' : 'an unlinked file';
    if (pathed && (!name!.startsWith('/') || name!.split('/').includes('..'))) sw.at('name').fail(`${what} needs an absolute path`);
    const mode = s.mode === undefined ? undefined : field(s, 'mode', sw, (y, ww) => int(y, ww, 0, 0o7777));
    if (pathed && mode === undefined) sw.fail(`${what} needs a mode`);
    if ((kind === 'anon' || kind === 'queue') && mode !== undefined) sw.fail(`${kind === 'anon' ? 'shared anonymous memory' : 'a socket queue'} has no mode`);
    if (kind === 'unlinked-dir' && size !== 0) sw.at('size').fail('a removed directory has no contents');
    const inode = s.inode === undefined ? undefined : obj(s.inode, sw.at('inode'));
    if ((kind === 'tmpfs') !== (inode !== undefined)) sw.fail('a tmpfs file, and only it, has its inode recorded');
    const owner = s.owner === undefined ? undefined : (arr(s.owner, sw.at('owner'), 2).map((y, k) => int(y, sw.at('owner').at(k), 0, 0xfffffffe)) as [number, number]);
    if (owner && (owner.length !== 2 || kind === 'anon' || kind === 'queue')) sw.at('owner').fail('expected [uid, gid] of a memfd, unlinked or tmpfs file or removed directory');
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
    if (kind === 'unlinked-dir' && runs.length) sw.at('runs').fail('a removed directory has no contents');
    return {
      id: field(s, 'id', sw, (y, ww) => int(y, ww, 0, (1 << 30) - 1)),
      kind: kind as ObjectImage['kind'],
      ...(name !== undefined ? { name } : {}),
      ...(mode !== undefined ? { mode } : {}),
      ...(owner ? { owner } : {}),
      ...(inode
        ? { inode: { dev: field(inode, 'dev', sw.at('inode'), (y, ww) => int(y, ww)), ino: field(inode, 'ino', sw.at('inode'), (y, ww) => int(y, ww)) } }
        : {}),
      size,
      seals: field(s, 'seals', sw, (y, ww) => int(y, ww, 0, 0xffff)),
      runs,
    };
  });
  if (new Set(list.map((s) => s.id)).size !== list.length) w.fail('duplicate content object ids');
  return list;
}


function checkTtys(v: CborValue, w: Where): TtyImage[] {
  const list = arr(v, w, 4096).map((x, i): TtyImage => {
    const tw = w.at(i);
    const t = obj(x, tw);
    const u32 = (o: Record<string, CborValue>, k: string, ww: Where) => field(o, k, ww, (y, w2) => int(y, w2, 0, 0xffffffff));
    const tio = t.termios === undefined ? undefined : obj(t.termios, tw.at('termios'));
    const tt = tw.at('termios');
    return {
      index: field(t, 'index', tw, (y, ww) => int(y, ww, 0, (1 << 20) - 1)),
      locked: field(t, 'locked', tw, bool),
      packet: field(t, 'packet', tw, bool),
      exclusive: field(t, 'exclusive', tw, bool),
      ...(tio
        ? {
            termios: {
              iflag: u32(tio, 'iflag', tt),
              oflag: u32(tio, 'oflag', tt),
              cflag: u32(tio, 'cflag', tt),
              lflag: u32(tio, 'lflag', tt),
              line: field(tio, 'line', tt, (y, ww) => int(y, ww, 0, 255)),
              cc: field(tio, 'cc', tt, (y, ww) => bytes(y, ww, 0, 32)),
              ispeed: u32(tio, 'ispeed', tt),
              ospeed: u32(tio, 'ospeed', tt),
            },
            winsize: arr(t.winsize, tw.at('winsize'), 4).map((y, k) => int(y, tw.at('winsize').at(k), 0, 0xffff)) as [number, number, number, number],
          }
        : {}),
    };
  });
  if (new Set(list.map((t) => t.index)).size !== list.length) w.fail('duplicate pty indexes');
  for (const t of list) if (t.termios && t.winsize?.length !== 4) w.fail('a pty with settings needs a window size');
  return list;
}
