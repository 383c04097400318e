/**
 * The open files of a whole tree: every fd of every task becomes a reference to one open-file
 * object (fds that are one open file, by dup or fork, share it: kcmp decides), each object gets
 * its kind from the fd registry (src/kernel/fds/), which dumps it and adds what the kind needs
 * (a pipe's queued bytes, a pty's settings, a socket's connection), and objects also held
 * outside the tree are found (leaks), which is refused unless allowed. Nothing here depends on
 * a particular kind: the kinds' ops say what differs.
 */
import fs from 'node:fs';
import { UcrError, UnsupportedError } from '../errors.js';
import { formatOf } from '../image/kinds/index.js';
import type { FileImage, FileOf, ImageFiles, PipeImage, TtyImage } from '../image/types.js';
import { native } from '../native/addon.js';
import { opsFor, opsOf, type CaptureContext, type CapturedObject, type FdFacts, type ObjectContext, type TreeFiles } from './fds/registry.js';
import type { Helper } from './helper.js';
import { type EvPipe, dumpFown, dumpPipe } from './protocol.gen.js';
import { InetSockets, type TcpPolicy } from './inet-sockets.js';
import { locksOf } from './locks.js';
import { commOf, F_DEV, F_FD, F_FINO, F_FLAGS, F_INO, F_LOCKS, F_MNT, F_MODE, FD_STRIDE, fdInfoAt, fdTable, filesOfOthers, readFdInfo, readLink, scanFds, sessionHint, type FdTable } from './proc.js';
import { Holders, ObjectIndex, refAt, type Holder, type TaskRefs, type TreeObject } from './files-index.js';
import { UnixSockets, type ExternalUnixPolicy } from './unix-sockets.js';
import { O_CLOEXEC } from './linux.js';
import { F_SAME, F_UNREAD, scanOthersAhead, type FdPrefetch } from './fd-prefetch.js';
import { objectFactsAt } from './fd-facts.js';

export interface CapturedFiles {
  files: ImageFiles;
  /** the fds of a task (by its pid as /proc shows it) as rows of (fd, file id, close-on-exec
   * 0/1) in rising fd order (task-compact.ts fdRows), made when asked from the compact table the
   * capture keeps */
  fdRowsOf(pid: number): Int32Array;
  /** how many fds fdRowsOf(pid) has */
  fdCountOf(pid: number): number;
  warnings: string[];
  /** content objects held as fds (memfds, unlinked files) by inode: a path the helper opens
   * them by (objects.ts) */
  objectPaths: Map<number, string>;
  /** TCP connections to put into repair mode right before a --kill (helper pid, fd) */
  tcpRepair: { pid: number; fd: number }[];
  /** TCP connections to outside peers that the keeper holds after a --kill */
  tcpKeep: { pid: number; fd: number; file: FileOf<'inet'> }[];
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
  /** the tasks' fd tables, scanned ahead (fd-prefetch.ts); default: each one scanned here */
  prefetch?: FdPrefetch;
  /** the tree's zombies (exited, not reaped), their pids as /proc shows them and in the image */
  zombies?: Map<number, number>;
}

function sameFile(a: { pid: number; fd: number }, pid: number, fd: number): boolean {
  try {
    return native().kcmpFiles(a.pid, a.fd, pid, fd) === 0;
  } catch {
    return false;
  }
}

/** Finds, for each object, one process outside the tree that holds it (pipes: either end);
 * others: their fds scanned already (scanOthersAhead), else scanned here. */
function findOutsideHolders(objects: TreeObject[], tree: Set<number>, ignore: Set<number>, others?: Iterable<{ pid: number; nums: Float64Array }>): void {
  const byIno = new Map<number, TreeObject[]>();
  for (const o of objects) {
    if (o.facts.stat.isCharacterDevice()) continue; // devices are stateless or refused anyway
    const same = byIno.get(o.facts.stat.ino);
    if (same) same.push(o);
    else byIno.set(o.facts.stat.ino, [o]);
  }
  if (!byIno.size) return;
  for (const { pid, nums } of others ?? filesOfOthers((p) => tree.has(p) || ignore.has(p))) {
    for (let b = 0; b < nums.length; b += FD_STRIDE) {
      const same = byIno.get(nums[b + F_INO]!);
      if (!same) continue;
      const fd = nums[b + F_FD]!;
      const fifo = (nums[b + F_MODE]! & fs.constants.S_IFMT) === fs.constants.S_IFIFO;
      for (const o of same)
        if (!o.outside && o.facts.stat.dev === nums[b + F_DEV]! && (fifo || sameFile(o.facts, pid, fd))) o.outside = { pid, fd, comm: commOf(pid) };
    }
  }
}

/** Whether every fd of the table found the same as its parent's (F_SAME) is in the parent's
 * refs. */
function inheritedKnown(t: FdTable, parent: TaskRefs | undefined): boolean {
  for (let b = 0; b < t.nums.length; b += FD_STRIDE) if (t.nums[b + F_SAME] && (!parent || refAt(parent, t.nums[b + F_FD]!) < 0)) return false;
  return true;
}

export async function captureFiles(pids: number[], helper: Helper, opt: FileCaptureOptions): Promise<CapturedFiles> {
  const index = new ObjectIndex();
  const objects = index.objects;
  const refs = new Map<number, TaskRefs>();
  // the other processes' fds, scanned while the tables are taken once an object needs them
  let others: ReturnType<typeof scanOthersAhead> | undefined;
  let locked: Set<number> | null | undefined; // the inodes /proc/locks names (null: unreadable)
  for (const pid of pids) {
    let table = opt.prefetch ? await opt.prefetch.table(pid) : fdTable(pid);
    // the parent's fds, which kcmp compared this task's fds with (F_SAME) in the scan
    const ref = opt.prefetch?.ref(pid);
    const parent = ref === undefined ? undefined : refs.get(ref);
    // an inherited fd is known by its parent's object; one the parent's table lacks (its fd
    // left out there) has nothing else: the table is read whole
    if (!inheritedKnown(table, parent)) table = fdTable(pid);
    const n = table.nums;
    const task: TaskRefs = { fds: new Int32Array(table.count), refs: new Int32Array(table.count), count: 0 };
    for (let i = 0, b = 0; i < table.count; i++, b += FD_STRIDE) {
      const fd = n[b + F_FD]!;
      const flagsFd = n[b + F_FLAGS]!;
      // one open file has one set of file flags (all but close-on-exec, which is the fd's): the
      // two ends of a pipe, or two opens of one file, differ there without a kcmp
      const flags = flagsFd & ~O_CLOEXEC;
      const mnt = n[b + F_MNT]!;
      const ino = n[b + F_FINO]!;
      // inherited and still the same open file: the parent's object (what the index would find)
      const k = parent && n[b + F_SAME] ? refAt(parent, fd) : -1;
      let obj = k >= 0 ? objects[parent!.refs[k]! >> 1] : index.find(mnt, ino, flags, (o) => sameFile(o.facts, pid, fd));
      let locks: string[] | undefined;
      if (!obj) {
        let facts: FdFacts;
        try {
          const { stat, info, link } = objectFactsAt(table, i);
          facts = { pid, fd, link, stat, info };
        } catch {
          continue;
        }
        obj = { n: objects.length, mnt, ino, facts, flags, holders: new Holders() };
        index.add(obj);
        locks = facts.info.locks;
        if (!others && !facts.stat.isCharacterDevice()) others = opt.prefetch ? opt.prefetch.others() : scanOthersAhead([...pids, ...opt.ignore]);
      } else if (n[b + F_LOCKS] === F_UNREAD) {
        // the fdinfo not read (F_SAME): a lock shows in it only if /proc/locks has one on the inode
        if (locked === undefined) locked = await opt.prefetch!.locked();
        if (!locked || locked.has(obj.ino)) locks = readFdInfo(pid, fd).locks;
      } else if (n[b + F_LOCKS]) locks = fdInfoAt(table, i).locks;
      obj.holders.push(pid, fd, locks);
      task.fds[task.count] = fd;
      task.refs[task.count++] = obj.n * 2 + (flagsFd & O_CLOEXEC ? 1 : 0);
    }
    refs.set(pid, task);
  }
  findOutsideHolders(objects, new Set(pids), opt.ignore, others && (await others));

  const warnings: string[] = [];
  const external: CapturedFiles['external'] = [];
  const files: FileImage[] = [];
  const ids = new Map<TreeObject, number>();
  const objectPaths = new Map<number, string>();
  const ttys: TtyImage[] = [];
  const pipes = pipeTable(helper);
  const tree = new Set(pids);
  const treePid = (p: number) => (tree.has(p) ? (opt.imagePid?.get(p) ?? p) : undefined);
  const inet = new InetSockets(helper, { tree: new Set(pids), ignore: opt.ignore, tcp: opt.tcp ?? 'close', lock: opt.kill ?? false });
  // a descriptor in flight in a unix socket's queue (a peek installed it in the helper): the
  // tree's object it is (kcmp), or a new object held by no task fd
  const inFlight = (pid: number, fd: number, via: string): TreeObject => {
    const found = scanFds(pid).find((x) => x.fd === fd);
    if (!found) throw new UcrError(`a descriptor in flight in ${via} is gone from the helper (fd ${fd})`, { phase: 'files' });
    const facts: FdFacts = { pid, fd, link: readLink(`/proc/${pid}/fd/${fd}`), stat: found.stat, info: found.info };
    const flags = facts.info.flags & ~O_CLOEXEC;
    // the mount and inode as fdinfo shows them (0 and the stat's inode without "ino:" there)
    const [mnt, ino] = facts.info.extra.has('ino') ? [facts.info.mntId, facts.info.ino] : [0, facts.stat.ino];
    let obj = index.find(mnt, ino, flags, (o) => sameFile(o.facts, pid, fd));
    if (!obj) {
      obj = { n: objects.length, mnt, ino, facts, flags, holders: new Holders(), via };
      obj.holders.push(pid, fd, facts.info.locks);
      findOutsideHolders([obj], new Set(pids), opt.ignore); // a leak like any object's
      index.add(obj); // captured by the loop below, after the objects found so far
    }
    return obj;
  };
  const unix = new UnixSockets(helper, {
    tree: new Set(pids),
    ignore: opt.ignore,
    externalUnix: opt.externalUnix ?? 'refuse',
    inFlight,
    idOf: (o) => ids.get(o as TreeObject),
  });
  const cap: CaptureContext = { helper, root: opt.root, warn: (m) => warnings.push(m), external, pipe: pipes.pipeOf, ttys, unix, inet, objectPath: (ino, p) => objectPaths.set(ino, p) };
  const objectOf: TreeObject[] = []; // by file id
  for (const o of objects) {
    const rootFd = o.holders.find(opt.root, 2);
    // the holders as objects, made only when a kind asks (a pipe of a tree of 1,000 has 1,000)
    let list: Holder[] | undefined;
    const holders = () => (list ??= o.holders.list());
    const ctx: ObjectContext = {
      rootStdio: rootFd < 0 ? undefined : o.holders.fd(rootFd),
      heldOutside: o.outside !== undefined,
      get holders() {
        return holders();
      },
      skipSockets: opt.skipSockets,
      treePid,
      zombiePid: (p) => opt.zombies?.get(p),
    };
    const co: CapturedObject = {
      facts: o.facts,
      get holders() {
        return holders();
      },
      ctx,
    };
    const h0 = { pid: o.facts.pid, fd: o.facts.fd }; // the first holder
    if (o.facts.stat.isSocket() && !opt.skipSockets && ctx.rootStdio === undefined) {
      ctx.unix = await unix.facts(h0.pid, h0.fd, o.facts.stat.ino);
      if (!ctx.unix) ctx.inet = await inet.facts(h0.pid, h0.fd);
    }
    const ops = opsFor(o.facts, ctx);
    const file = { id: files.length, kind: ops.kind, ...ops.dump(o.facts, ctx) } as FileImage;
    const what = o.via ? `a file in flight in ${o.via} (${o.facts.link})` : `process ${h0.pid} fd ${h0.fd} (${o.facts.link})`;
    if (o.via && ops.late) throw new UnsupportedError(`${what}: ${ops.late} in flight in a unix socket's queue: not supported yet`, { phase: 'files' });
    // no holder with a "lock:" line: no locks
    if (!ops.unsaved && o.holders.hasLocks) {
      const locks = locksOf(holders(), what);
      if (locks.length && ops.late) throw new UnsupportedError(`${what}: a lock on ${ops.late} is not supported`, { pid: h0.pid, phase: 'files' });
      if (locks.length) file.locks = locks;
    }
    const shared = o.outside && ops.sharedOutside?.(co, o.outside);
    if (shared) warnings.push(shared);
    else if (o.outside && !ops.unsaved) {
      const msg = `${what} is also held by process ${o.outside.pid} (${o.outside.comm}) fd ${o.outside.fd} outside the checkpointed tree`;
      if (!opt.allowLeaks) throw new UcrError(`${msg} (${sessionHint(h0.pid, o.outside.pid)}use --allow-leaks to checkpoint anyway)`, { code: 'ELEAK', pid: h0.pid, phase: 'files' });
      warnings.push(`${msg}: leaked, the restart will not share it`);
      file.leak = o.outside;
    }
    await ops.captured?.(file, co, cap);
    // the owner of signal-driven I/O, and of a socket's SIGURG (F_SETOWN without O_ASYNC)
    const async = (o.facts.info.flags & O_ASYNC) !== 0;
    if ((async && !ops.unsaved) || ops.urgent) file.fown = await ownerOf(helper, h0, o.facts.link, treePid, ops.late, async, warnings);
    ids.set(o, file.id);
    objectOf.push(o);
    files.push(file);
  }
  await pipes.read();
  unix.link();
  const first = (o: TreeObject) => ({ pid: o.facts.pid, fd: o.facts.fd });
  const treeFiles: TreeFiles = {
    files,
    ttys,
    atInode: (ino) => objectOf.flatMap((o, id) => (o.facts.stat.ino === ino && !o.via && !formatOf(files[id]!.kind).noFd ? [{ id, ...first(o) }] : [])),
    holderOf: (id) => (objectOf[id] ? first(objectOf[id]) : { pid: 0, fd: -1 }),
    fileAt(pid, fd) {
      const t = refs.get(pid);
      const i = t ? refAt(t, fd) : -1;
      const file = i >= 0 ? files[ids.get(objects[t!.refs[i]! >> 1]!)!] : undefined;
      return file && { file, late: opsOf(file.kind).late };
    },
  };
  for (const f of files) opsOf(f.kind).linked?.(f, treeFiles);
  inet.link();
  warnings.push(...unix.warnings, ...inet.warnings);
  // each object's file id, or -1 for a file held by no fd in the image (closed)
  const fileOf = new Int32Array(objects.length).fill(-1);
  for (const [o, id] of ids) if (!formatOf(files[id]!.kind).noFd) fileOf[o.n] = id;
  const fdRowsOf = (pid: number): Int32Array => {
    const t = refs.get(pid);
    const n = t?.count ?? 0;
    const rows = new Int32Array(3 * n);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const file = fileOf[t!.refs[i]! >> 1]!;
      if (file < 0) continue;
      rows[k++] = t!.fds[i]!;
      rows[k++] = file;
      rows[k++] = t!.refs[i]! & 1;
    }
    return k === rows.length ? rows : rows.slice(0, k);
  };
  const fdCountOf = (pid: number): number => {
    const t = refs.get(pid);
    let n = 0;
    for (let i = 0; i < (t?.count ?? 0); i++) if (fileOf[t!.refs[i]! >> 1]! >= 0) n++;
    return n;
  };
  return {
    files: { files, pipes: pipes.list, ...(ttys.length ? { ttys } : {}) },
    fdRowsOf,
    fdCountOf,
    warnings,
    objectPaths,
    tcpRepair: inet.tcpRepair,
    tcpKeep: inet.tcpKeep,
    external,
  };
}

const O_ASYNC = 0o20000;

/** Who gets the signal of an open file with O_ASYNC (or a socket's SIGURG), by pids of the
 * image: a task of the tree, one of its threads (they keep their ids), or the process group of
 * one; pid 0 with the signal F_SETSIG gave, when there is no owner. An O_ASYNC owner outside
 * the tree is refused; a socket's owner outside it without O_ASYNC (only SIGURG would reach it)
 * is left out with a warning. */
async function ownerOf(
  helper: Helper,
  h: Holder,
  link: string,
  treePid: (p: number) => number | undefined,
  late: string | undefined,
  async: boolean,
  warnings: string[],
): Promise<FileImage['fown']> {
  helper.send(dumpFown({ pid: h.pid, fd: h.fd }));
  const ev = await helper.next('fown');
  const [type, pid, sig] = [(['tid', 'pid', 'pgrp'] as const)[ev.type]!, ev.pid, ev.sig];
  if (!pid) return sig ? { type: 'pid', pid: 0, sig } : undefined;
  const refuse = (why: string) => new UnsupportedError(`process ${h.pid} fd ${h.fd} (${link}): signal-driven I/O (O_ASYNC) ${why}: not supported`, { pid: h.pid, phase: 'files' });
  if (late) throw refuse(`on ${late}`);
  let image = treePid(pid);
  if (image === undefined && type === 'tid') {
    const tgid = Number(/^Tgid:\s*(\d+)/m.exec(readText(`/proc/${pid}/status`))?.[1]);
    if (treePid(tgid) !== undefined) image = pid; // a thread of the tree keeps its id
  }
  const outside = `${type === 'pgrp' ? 'process group' : 'process'} ${pid} outside the tree`;
  if (image === undefined && !async) {
    warnings.push(`process ${h.pid} fd ${h.fd} (${link}): its owner (F_SETOWN) is ${outside}: not restored`);
    return sig ? { type: 'pid', pid: 0, sig } : undefined;
  }
  if (image === undefined) throw refuse(`signals ${outside}`);
  return { type, pid: image, sig };
}

function readText(path: string): string {
  try {
    return fs.readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

/** The pipes of the tree, numbered in the image as their ends are found (anonymous pipes and
 * FIFOs live on different devices), each one's size and queued bytes asked of the helper once,
 * answered in order and collected by read(). */
function pipeTable(helper: Helper) {
  const pipes = new Map<number, PipeImage>();
  const ids = new Map<string, number>();
  const reads: { pipe: PipeImage; ev: Promise<EvPipe> }[] = [];
  // the commands written 32 at a time (a write per pipe was ~10 µs of the CLI each), the rest
  // by read(); the helper answers them in order whatever it is asked meanwhile
  let unsent: string[] = [];
  const flush = () => {
    if (unsent.length) helper.sendLines(unsent);
    unsent = [];
  };
  return {
    pipeOf(o: { facts: FdFacts }, fifoPath?: string, ghost?: { mode: number }): number {
      const k = `${o.facts.stat.dev}:${o.facts.stat.ino}`;
      const id = ids.get(k) ?? ids.set(k, ids.size).size - 1;
      if (!pipes.has(id)) {
        const h = { pid: o.facts.pid, fd: o.facts.fd }; // its first holder
        if (unsent.push(dumpPipe({ pid: h.pid, fd: h.fd })) === 32) flush();
        const ev = helper.next('pipe');
        ev.catch(() => {}); // awaited in read(); a failure must not be "unhandled" until then
        const pipe: PipeImage = { id, size: 0, data: Buffer.alloc(0) };
        if (fifoPath !== undefined) pipe.path = fifoPath;
        if (ghost) pipe.ghost = ghost;
        pipes.set(id, pipe);
        reads.push({ pipe, ev });
      }
      return id;
    },
    async read(): Promise<void> {
      flush();
      for (const { pipe, ev } of reads) {
        const e = await ev;
        pipe.size = e.size;
        pipe.data = Buffer.from(e.data, 'hex');
      }
    },
    get list(): PipeImage[] {
      return [...pipes.values()];
    },
  };
}
