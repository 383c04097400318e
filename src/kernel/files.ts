/**
 * The open files of a whole tree: every fd of every task becomes a reference to one open-file
 * object (fds that are one open file, by dup or fork, share it: kcmp decides), each object gets
 * its kind from the fd registry, pipes get their queued bytes, memfds and unlinked files are noted
 * for objects.ts,
 * and objects also held outside the
 * tree are found (leaks), which is refused unless allowed.
 */
import fs from 'node:fs';
import { UcrError, UnsupportedError } from '../errors.js';
import type { FdImage, FileImage, ImageFiles, PipeImage, TtyImage } from '../image/types.js';
import { native } from '../native/addon.js';
import { opsFor, type FdFacts, type ObjectContext } from './fds/registry.js';
import type { Helper, HelperEvent } from './helper.js';
import { InetSockets, type TcpPolicy } from './inet-sockets.js';
import { linkClosedTargets } from './fds/epoll.js';
import { locksOf } from './locks.js';
import { commOf, filesOfOthers, readLink, scanFds } from './proc.js';
import { UnixSockets, type ExternalUnixPolicy } from './unix-sockets.js';
import { O_CLOEXEC } from './linux.js';

interface Holder {
  pid: number;
  fd: number;
  /** the "lock:" lines of its fdinfo */
  locks?: string[];
}

interface TreeObject {
  facts: FdFacts;
  holders: Holder[];
  outside?: Holder & { comm: string };
}

export interface CapturedFiles {
  files: ImageFiles;
  fds: Map<number, FdImage[]>;
  warnings: string[];
  /** content objects held as fds (memfds, unlinked files) by inode: a path the helper opens
   * them by (objects.ts) */
  objectPaths: Map<number, string>;
  /** TCP connections to put into repair mode right before a --kill (helper pid, fd) */
  tcpRepair: { pid: number; fd: number }[];
  /** TCP connections to outside peers that the keeper holds after a --kill */
  tcpKeep: { pid: number; fd: number; file: FileImage }[];
  /** the root's stdio that leads outside the tree (kind 'external'): its fds, what it is, and
   * the restarting process's stdio slot it will be connected to */
  external: { pid: number; fds: number[]; path: string; slot: number }[];
}

export interface FileCaptureOptions {
  root: number;
  /** processes that are neither the tree nor "outside" (ucr itself and its helper) */
  ignore: Set<number>;
  allowLeaks: boolean;
  /** a unix socket whose peer is outside the tree: refused, or restored with the peer closed */
  externalUnix?: ExternalUnixPolicy;
  /** a TCP connection whose peer is outside the tree: restored 'established' (TCP_REPAIR) or
   * 'close' (reset; the default) */
  tcp?: TcpPolicy;
  /** the tree will be killed: TCP connections are locked while they are read */
  kill?: boolean;
  /** --skip sockets: sockets are recorded as closed and not restored */
  skipSockets?: boolean;
  /** a task's pid in the image by its pid as /proc shows it (default: the same) */
  imagePid?: Map<number, number>;
}

function sameFile(a: Holder, b: Holder): boolean {
  try {
    return native().kcmpFiles(a.pid, a.fd, b.pid, b.fd) === 0;
  } catch {
    return false;
  }
}

const key = (f: FdFacts) => `${f.stat.dev}:${f.stat.ino}`;

/** Finds, for each object, one process outside the tree that holds it (pipes: either end). */
function findOutsideHolders(objects: TreeObject[], tree: Set<number>, ignore: Set<number>): void {
  const byKey = new Map<string, TreeObject[]>();
  for (const o of objects) {
    if (o.facts.stat.isCharacterDevice()) continue; // devices are stateless or refused anyway
    byKey.set(key(o.facts), [...(byKey.get(key(o.facts)) ?? []), o]);
  }
  if (!byKey.size) return;
  for (const { pid, fd, dev, ino, mode } of filesOfOthers((p) => tree.has(p) || ignore.has(p))) {
    for (const o of byKey.get(`${dev}:${ino}`) ?? [])
      if (!o.outside && ((mode & fs.constants.S_IFMT) === fs.constants.S_IFIFO || sameFile(o.holders[0]!, { pid, fd }))) o.outside = { pid, fd, comm: commOf(pid) };
  }
}

export async function captureFiles(pids: number[], helper: Helper, opt: FileCaptureOptions): Promise<CapturedFiles> {
  const objects: TreeObject[] = [];
  const byKey = new Map<string, TreeObject[]>();
  const refs = new Map<number, { fd: number; obj: TreeObject; cloexec: boolean }[]>();
  for (const pid of pids) {
    const list: { fd: number; obj: TreeObject; cloexec: boolean }[] = [];
    for (const { fd, stat, info } of scanFds(pid)) {
      const facts: FdFacts = { pid, fd, link: '', stat, info };
      const k = key(facts);
      const same = byKey.get(k);
      // one open file has one set of file flags (all but close-on-exec, which is the fd's): the
      // two ends of a pipe, or two opens of one file, differ there without a kcmp
      const flags = info.flags & ~O_CLOEXEC;
      let obj = same?.find((o) => (o.facts.info.flags & ~O_CLOEXEC) === flags && sameFile(o.holders[0]!, { pid, fd }));
      if (!obj) {
        try {
          facts.link = readLink(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        obj = { facts, holders: [] };
        objects.push(obj);
        if (same) same.push(obj);
        else byKey.set(k, [obj]);
      }
      obj.holders.push({ pid, fd, locks: facts.info.locks });
      list.push({ fd, obj, cloexec: (facts.info.flags & O_CLOEXEC) !== 0 });
    }
    refs.set(pid, list);
  }
  findOutsideHolders(objects, new Set(pids), opt.ignore);

  const warnings: string[] = [];
  const external: CapturedFiles['external'] = [];
  const files: FileImage[] = [];
  const ids = new Map<TreeObject, number>();
  const pipes = new Map<number, PipeImage>();
  const pipeIds = new Map<string, number>();
  const objectPaths = new Map<number, string>();
  const ttys: TtyImage[] = [];
  const refsOf = (id: number) => {
    for (const [o, i] of ids) if (i === id) return o.holders[0]!;
    return { pid: 0, fd: -1 };
  };
  // pipes' queued bytes: asked for as they come, answered in order, collected after the loop
  const pipeReads: { pipe: PipeImage; ev: Promise<HelperEvent> }[] = [];
  const tree = new Set(pids);
  const treePid = (p: number) => (tree.has(p) ? (opt.imagePid?.get(p) ?? p) : undefined);
  const inet = new InetSockets(helper, { tree: new Set(pids), ignore: opt.ignore, tcp: opt.tcp ?? 'close', lock: opt.kill ?? false });
  const unix = new UnixSockets(helper, { tree: new Set(pids), ignore: opt.ignore, externalUnix: opt.externalUnix ?? 'refuse' });
  for (const o of objects) {
    const rootFd = o.holders.find((h) => h.pid === opt.root && h.fd <= 2);
    const ctx: ObjectContext = { rootStdio: rootFd?.fd, heldOutside: o.outside !== undefined, holders: o.holders, skipSockets: opt.skipSockets, treePid };
    const h0 = o.holders[0]!;
    if (o.facts.stat.isSocket() && !opt.skipSockets && ctx.rootStdio === undefined) {
      ctx.unix = await unix.facts(h0.pid, h0.fd, o.facts.stat.ino);
      if (!ctx.unix) ctx.inet = await inet.facts(h0.pid, h0.fd);
    }
    const ops = opsFor(o.facts, ctx);
    const file: FileImage = { id: files.length, kind: ops.kind, ...ops.dump(o.facts, ctx) };
    if (ctx.unix && file.unix) unix.add(file, ctx.unix, h0.pid, h0.fd);
    if (ops.kind !== 'external' && ops.kind !== 'closed') {
      const locks = locksOf(o.holders, `process ${h0.pid} fd ${h0.fd} (${o.facts.link})`);
      if (locks.length && ops.kind === 'proc')
        throw new UnsupportedError(`process ${h0.pid} fd ${h0.fd} (${o.facts.link}): a lock on a file of /proc is not supported`, { pid: h0.pid, phase: 'files' });
      if (locks.length) file.locks = locks;
    }
    if (ctx.inet && file.inet) inet.add(file, ctx.inet, h0.pid, h0.fd);
    // queues of more than 4 MiB: memfds of the helper, read as content objects
    for (const q of [ctx.inet?.recvQueueObj, ctx.inet?.sendQueueObj]) if (q && file.inet?.tcp) objectPaths.set(q[2], `/proc/${helper.pid}/fd/${q[0]}`);
    if (ops.kind === 'closed') warnings.push(`process ${h0.pid} fd ${h0.fd} (${o.facts.link}): skipped, the restarted process finds it closed`);
    if (ops.kind === 'external')
      external.push({ pid: opt.root, fds: o.holders.filter((h) => h.pid === opt.root && h.fd <= 2).map((h) => h.fd), path: o.facts.link, slot: ctx.rootStdio! });
    if (o.outside && ops.kind === 'fifo') {
      // a FIFO is found again by its path: reopened, it is the same pipe as long as the outside
      // holder keeps it open (its bytes stay in it; restart does not add them again)
      warnings.push(
        `process ${h0.pid} fd ${h0.fd} (FIFO ${o.facts.link}) is also open in process ${o.outside.pid} (${o.outside.comm}) outside the checkpointed tree: the restart opens the FIFO again by its path`,
      );
    } else if (o.outside && ops.kind === 'regular' && ctx.rootStdio !== undefined) {
      // the root's stdio on a file it shares with a process outside (a parent writing to the same
      // log): found again by its path
      warnings.push(
        `process ${h0.pid} fd ${h0.fd} (${o.facts.link}) is also held by process ${o.outside.pid} (${o.outside.comm}) fd ${o.outside.fd} outside the checkpointed tree: the restart opens the file again by its path, as an open file of its own`,
      );
    } else if (o.outside && ops.kind !== 'external' && ops.kind !== 'closed') {
      const what = `process ${o.holders[0]!.pid} fd ${o.holders[0]!.fd} (${o.facts.link})`;
      const msg = `${what} is also held by process ${o.outside.pid} (${o.outside.comm}) fd ${o.outside.fd} outside the checkpointed tree`;
      if (!opt.allowLeaks) throw new UcrError(`${msg} (use --allow-leaks to checkpoint anyway)`, { code: 'ELEAK', pid: o.holders[0]!.pid, phase: 'files' });
      warnings.push(`${msg}: leaked, the restart will not share it`);
      file.leak = o.outside;
    }
    if (file.pipe) {
      // pipes are numbered in the image (anonymous pipes and FIFOs live on different devices)
      const k = key(o.facts);
      file.pipe.id = pipeIds.get(k) ?? pipeIds.set(k, pipeIds.size).size - 1;
    }
    if (file.pipe && !pipes.has(file.pipe.id)) {
      const h = o.holders[0]!;
      helper.send(`pipe ${h.pid} ${h.fd}`);
      const ev = helper.next('pipe');
      ev.catch(() => {}); // awaited below; a failure must not be "unhandled" until then
      const pipe: PipeImage = { id: file.pipe.id, size: 0, data: Buffer.alloc(0) };
      if (file.kind === 'fifo') pipe.path = file.path;
      pipes.set(file.pipe.id, pipe);
      pipeReads.push({ pipe, ev });
    }
    if (o.facts.info.flags & O_ASYNC && ops.kind !== 'external' && ops.kind !== 'closed') file.fown = await ownerOf(helper, h0, o.facts.link, treePid, ops.kind);
    if (file.obj !== undefined) objectPaths.set(file.obj, `/proc/${o.holders[0]!.pid}/fd/${o.holders[0]!.fd}`);
    if (file.tty?.master) ttys.push(await readTty(helper, o.holders[0]!, o.facts.link));
    ids.set(o, file.id);
    files.push(file);
  }
  for (const { pipe, ev } of pipeReads) {
    const e = await ev;
    pipe.size = e.size as number;
    pipe.data = Buffer.from(e.data as string, 'hex');
  }
  unix.link();
  for (const f of files)
    if (f.kind === 'epoll')
      linkClosedTargets(f, (ino) => [...ids].filter(([o, id]) => o.facts.stat.ino === ino && files[id]!.kind !== 'closed').map(([o, id]) => ({ id, ...o.holders[0]! })));
  for (const f of files)
    if (f.tty && !ttys.some((t) => t.index === f.tty!.index)) {
      const h = refsOf(f.id);
      throw new UnsupportedError(`process ${h.pid} fd ${h.fd} (${f.path}): the terminal's master is not in the tree (a terminal emulator or ssh holds it): only the root's stdio can be such a terminal`, { pid: h.pid, phase: 'files' });
    }
  inet.link();
  // a /proc file is opened by its task only in its finish step, after the epoll registrations
  for (const f of files)
    for (const t of f.epoll ?? []) {
      const r = refs.get(t.task)?.find((x) => x.fd === t.fd);
      const target = r && files[ids.get(r.obj)!];
      if (target?.kind === 'proc')
        throw new UnsupportedError(`process ${t.task} fd ${t.fd} (${target.path}): a file of /proc registered in an epoll is not supported yet`, { pid: t.task, phase: 'files' });
    }
  warnings.push(...unix.warnings, ...inet.warnings);
  const closed = new Set(files.filter((f) => f.kind === 'closed').map((f) => f.id));
  const fds = new Map<number, FdImage[]>();
  for (const [pid, list] of refs)
    fds.set(pid, list.map((r) => ({ fd: r.fd, file: ids.get(r.obj)!, cloexec: r.cloexec })).filter((r) => !closed.has(r.file)));
  return {
    files: { files, pipes: [...pipes.values()], ...(ttys.length ? { ttys } : {}) },
    fds,
    warnings,
    objectPaths,
    tcpRepair: inet.tcpRepair,
    tcpKeep: inet.tcpKeep,
    external,
  };
}

const O_ASYNC = 0o20000;

/** Who gets the signal of an open file with O_ASYNC, by pids of the image: a task of the tree,
 * one of its threads (they keep their ids), or the process group of one. None (pid 0): no
 * owner to restore. An owner outside the tree is refused. */
async function ownerOf(helper: Helper, h: Holder, link: string, treePid: (p: number) => number | undefined, kind: string): Promise<FileImage['fown']> {
  helper.send(`fown ${h.pid} ${h.fd}`);
  const ev = await helper.next('fown');
  const [type, pid, sig] = [['tid', 'pid', 'pgrp'][ev.type as number] as 'tid' | 'pid' | 'pgrp', ev.pid as number, ev.sig as number];
  if (!pid) return undefined;
  const refuse = (why: string) => new UnsupportedError(`process ${h.pid} fd ${h.fd} (${link}): signal-driven I/O (O_ASYNC) ${why}: not supported`, { pid: h.pid, phase: 'files' });
  if (kind === 'proc') throw refuse('on a file of /proc');
  let image = treePid(pid);
  if (image === undefined && type === 'tid') {
    const tgid = Number(/^Tgid:\s*(\d+)/m.exec(readText(`/proc/${pid}/status`))?.[1]);
    if (treePid(tgid) !== undefined) image = pid; // a thread of the tree keeps its id
  }
  if (image === undefined) throw refuse(`signals ${type === 'pgrp' ? 'process group' : 'process'} ${pid} outside the tree`);
  return { type, pid: image, sig };
}

function readText(path: string): string {
  try {
    return fs.readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

/** A pty pair's state, read by the helper through the master (native/helper/kinds/tty/dump_tty.c). Bytes
 * queued in either direction cannot be read back without taking them: refused. */
async function readTty(helper: Helper, h: Holder, link: string): Promise<TtyImage> {
  helper.send(`tty ${h.pid} ${h.fd}`);
  const t = (await helper.next('tty')) as unknown as Record<string, number | string>;
  const n = (k: string) => Number(t[k]);
  if (n('inq') || n('outq'))
    throw new UnsupportedError(
      `process ${h.pid} fd ${h.fd} (${link}, /dev/pts/${n('index')}): ${n('inq') + n('outq')} bytes are queued in the terminal (not yet read): not supported yet`,
      { pid: h.pid, phase: 'files' },
    );
  return {
    index: n('index'),
    locked: n('locked') === 1,
    packet: n('pkt') === 1,
    exclusive: n('excl') === 1,
    ...(n('settings') === 1
      ? {
          termios: { iflag: n('iflag'), oflag: n('oflag'), cflag: n('cflag'), lflag: n('lflag'), line: n('line'), cc: Buffer.from(String(t.cc), 'hex'), ispeed: n('ispeed'), ospeed: n('ospeed') },
          winsize: [n('rows'), n('cols'), n('xpix'), n('ypix')] as [number, number, number, number],
        }
      : {}),
  };
}
