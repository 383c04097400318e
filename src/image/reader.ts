/**
 * Reads and validates an image's metadata (prelude, HEADER, TREE, FILES, IPC, TASK records) from an fd,
 * consuming exactly those bytes, so the page records that follow can be handed to native code
 * on the same fd. Every failure is an ImageError that says what is wrong.
 */
import fs from 'node:fs';
import { crc32c, digestAdd } from '../native/addon.js';
import { CborError, decode, decodeBudget, type CborValue } from './cbor.js';
import { readUpTo } from './fdio.js';
import {
  FORMAT_MAJOR,
  FORMAT_MINOR,
  FORMAT_MINOR_XSTATE,
  FORMAT_MINOR_VMAP,
  FORMAT_MINOR_FDP,
  FORMAT_MINOR_SAME,
  FORMAT_MINOR_XTRIM,
  FORMAT_MINOR_AIO,
  FORMAT_MINOR_CGROUP,
  FORMAT_MINOR_SLICE,
  FORMAT_MINOR_FMAP,
  FRAME_SIZE,
  MAGIC,
  MAX_METADATA_DECODED,
  MAX_METADATA_RECORD,
  MAX_METADATA_TOTAL,
  MAX_TRAILER,
  PAGE_SIZE,
  PRELUDE_SIZE,
  RecordKind,
} from './format.js';
import { systemErrorText } from '../errno.js';
import { ImageError } from '../errors.js';
import { isMap } from './check.js';
import { inheritedProblem } from './cow.js';
import { formatOf } from './kinds/index.js';
import { OBJECT_KINDS } from './object-kinds.js';
import type { FileImage, ImageFiles, ImageMetadata, TaskImage, Trailer, TreeEntry } from './types.js';
import { checkFiles, checkHeader, checkTask, checkTrailer, checkTree } from './validate.js';
import { fdRows, setXstateLen, SharedParts, xstateParts } from './task-compact.js';
import { seccompProblem } from './validate-seccomp.js';
import { checkIpc } from './validate-ipc.js';
import { otherVmas, runPages } from './packed-task.js';

const EMPTY = Buffer.alloc(0);

export interface Frame {
  kind: number;
  crc: number;
  length: number;
}

/** Records the checkpoint just wrote (writer.ts keep), by the offset of their payload in the
 * image: their bytes, the value they decode to (cbor-decoded.ts) and what decoding them charges.
 * A record read whose bytes are exactly these is taken as that value instead of decoded. */
export type KnownRecords = Map<number, { bytes: Uint8Array; value: CborValue; charge: number }>;

export class ImageReader {
  offset = 0;
  /** bytes of metadata records read so far, and what decoding them may still allocate */
  private metadataBytes = 0;
  private readonly budget = decodeBudget(MAX_METADATA_DECODED);
  /** fd: an fd, or the image's bytes in memory (checkpoint's check of what it writes: one
   * buffer, or the list of buffers written, which the reader empties as it reads past them).
   * positional: read at this.offset (files; allows skip()) instead of consuming the fd offset. */
  constructor(
    readonly fd: number | Buffer | Buffer[],
    readonly name: string,
    readonly positional = false,
    private readonly known?: KnownRecords,
  ) {}
  /** a list of buffers: the one holding this.offset, and where it starts */
  private chunk = 0;
  private chunkStart = 0;

  exactly(n: number, what: string): Buffer {
    let b: Buffer;
    try {
      b = typeof this.fd === 'number' ? readUpTo(this.fd, n, this.positional ? this.offset : null) : Array.isArray(this.fd) ? this.fromChunks(this.fd, n) : this.fd.subarray(this.offset, this.offset + n);
    } catch (e) {
      throw new ImageError(`${this.name}: cannot read the image: ${systemErrorText(e)}`, { object: this.name, code: (e as NodeJS.ErrnoException).code });
    }
    this.offset += b.length;
    if (b.length !== n)
      throw new ImageError(`${this.name}: truncated image: ${what} at byte ${this.offset - b.length} is cut short`, {
        object: this.name,
      });
    return b;
  }

  /** Up to n bytes at this.offset from a list of buffers: part of one when they are in one (a
   * record's frame and its payload are written apart), else a copy. The buffers read past are
   * let go (a tree of 1,000 tasks writes ~100 MB of metadata: not held twice). */
  private fromChunks(list: Buffer[], n: number): Buffer {
    while (this.chunk < list.length && this.offset >= this.chunkStart + list[this.chunk]!.length) {
      this.chunkStart += list[this.chunk]!.length;
      list[this.chunk++] = EMPTY;
    }
    const at = this.offset - this.chunkStart;
    const first = list[this.chunk];
    if (!first || at + n <= first.length) return first ? first.subarray(at, at + n) : EMPTY;
    const parts = [first.subarray(at)];
    let got = parts[0]!.length;
    for (let i = this.chunk + 1; i < list.length && got < n; i++) {
      const part = list[i]!.subarray(0, n - got);
      parts.push(part);
      got += part.length;
    }
    return Buffer.concat(parts);
  }

  /** Skips n bytes of a positional reader. */
  skip(n: number): void {
    if (!this.positional) throw new Error('skip() needs a positional reader');
    this.offset += n;
  }

  frame(): Frame {
    const f = this.exactly(FRAME_SIZE, 'a record header');
    const length = f.readBigUInt64LE(8);
    return { kind: f.readUInt32LE(0), crc: f.readUInt32LE(4), length: length > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(length) };
  }

  payload(f: Frame, what: string, max: number): CborValue {
    if (f.length < 0 || f.length > max)
      throw new ImageError(`${this.name}: corrupt image: ${what} record claims ${f.length < 0 ? 'more than 2^53' : f.length} bytes, at most ${max}`, { object: this.name });
    if ((this.metadataBytes += f.length) > MAX_METADATA_TOTAL)
      throw new ImageError(`${this.name}: corrupt image: ${what} record: the metadata records claim more than ${MAX_METADATA_TOTAL >> 20} MiB together`, { object: this.name });
    const start = this.offset;
    const p = this.exactly(f.length, `the ${what} record`);
    if (crc32c(p) !== f.crc)
      throw new ImageError(`${this.name}: corrupt image: checksum mismatch in the ${what} record at byte ${start}`, {
        object: this.name,
      });
    const k = this.known?.get(start);
    if (k) {
      this.known!.delete(start); // taken once: the check owns it from now on
      // over the budget: decoded, which fails as it always did
      if (k.charge <= this.budget.left && p.equals(k.bytes)) {
        this.budget.left -= k.charge;
        return k.value;
      }
    }
    try {
      return decode(p, this.budget);
    } catch (e) {
      if (e instanceof CborError)
        throw new ImageError(`${this.name}: corrupt image: ${what} record: ${e.message}`, { object: this.name });
      throw e;
    }
  }

  expect(kind: RecordKind, what: string): { value: CborValue; crc: number } {
    const f = this.frame();
    if (f.kind !== kind)
      throw new ImageError(`${this.name}: corrupt image: expected the ${what} record, found kind ${f.kind} at byte ${this.offset - FRAME_SIZE}`, {
        object: this.name,
      });
    return { value: this.payload(f, what, kind === RecordKind.Trailer ? MAX_TRAILER : MAX_METADATA_RECORD), crc: f.crc };
  }
}

export function readPrelude(r: ImageReader): { major: number; minor: number } {
  const p = r.exactly(PRELUDE_SIZE, 'the image prelude');
  if (!p.subarray(0, MAGIC.length).equals(MAGIC))
    throw new ImageError(`${r.name}: not a ucr image (bad magic)`, { object: r.name });
  const major = p.readUInt32LE(8);
  const minor = p.readUInt32LE(12);
  if (major !== FORMAT_MAJOR || minor > FORMAT_MINOR)
    throw new ImageError(
      `${r.name}: image format version ${major}.${minor} is not supported (this ucr reads ${FORMAT_MAJOR}.0 to ${FORMAT_MAJOR}.${FORMAT_MINOR})`,
      { object: r.name, code: 'EVERSION' },
    );
  return { major, minor };
}

export interface ReadResult {
  meta: ImageMetadata;
  reader: ImageReader;
}

/** writing: the image is the one being written (checkpoint's own check, read back from its
 * file): its pages are still to come, so the file's size says nothing yet. */
export function readMetadata(fd: number | Buffer | Buffer[], name: string, positional = false, writing = false, known?: KnownRecords): ReadResult {
  const steps = metadataSteps(fd, name, positional, writing, known);
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
  }
}

/** Every ~2 MB of TASK records (readMetadataAsync): long enough not to cost, short enough that
 * the CLI's V8 settings (bin/ucr: no more young-generation growth, made from a gc observer that
 * only runs between tasks) apply while a large image is read; 32 MiB of new space otherwise. */
const PAUSE_BYTES = 2 << 20;

/** readMetadata for restart: the same, with a pause (the event loop runs) every PAUSE_BYTES. */
export async function readMetadataAsync(fd: number, name: string): Promise<ReadResult> {
  const steps = metadataSteps(fd, name, false, false);
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function* metadataSteps(fd: number | Buffer | Buffer[], name: string, positional: boolean, writing: boolean, known?: KnownRecords): Generator<void, ReadResult, void> {
  const r = new ImageReader(fd, name, positional, known);
  const { major, minor } = readPrelude(r);
  let digest = 0;
  let records = 0;
  const take = (kind: RecordKind, what: string): CborValue => {
    const { value, crc } = r.expect(kind, what);
    digest = digestAdd(digest, crc);
    records++;
    return value;
  };
  const where = (s: string) => `${name}: ${s}`;
  const header = checkHeader(take(RecordKind.Header, 'HEADER'), where('HEADER'));
  if (header.compress && minor < 2) throw new ImageError(where(`HEADER: compression in a format ${major}.${minor} image`), { object: name });
  const tree = checkTree(take(RecordKind.Tree, 'TREE'), where('TREE'));
  if (tree.cgroups && minor < FORMAT_MINOR_CGROUP) throw new ImageError(where(`TREE: cgroups in a format ${major}.${minor} image`), { object: name });
  if (tree.tasks[0]!.pid !== header.root) throw new ImageError(where(`TREE: the first task is not the root ${header.root}`), { object: name });
  const files = checkFiles(take(RecordKind.Files, 'FILES'), where('FILES'));
  const ipc = minor >= 1 ? checkIpc(take(RecordKind.Ipc, 'IPC'), where('IPC')) : { ownNamespace: false, shm: [], sem: [], msg: [] };
  const shmIds = new Set(ipc.shm.map((x) => x.id));
  const fileIds = new Set(files.files.filter((f) => !formatOf(f.kind).noFd).map((f) => f.id)); // a skipped socket has no fd
  // an object without contents (a removed directory) is a cwd, never mapped
  const objIds = new Set((files.objects ?? []).filter((s) => !OBJECT_KINDS[s.kind].empty).map((s) => s.id));
  const dirIds = new Set((files.objects ?? []).filter((s) => OBJECT_KINDS[s.kind].empty).map((s) => s.id));
  // POSIX locks and epoll targets by the task they name, so each task is checked against its
  // own (never every file for every task: a tree may hold thousands of both)
  const locksOf = new Map<number, { file: number; fd: number }[]>();
  const targetsOf = new Map<number, { file: number; fd: number }[]>();
  const add = (m: Map<number, { file: number; fd: number }[]>, task: number, x: { file: number; fd: number }) => {
    const l = m.get(task);
    if (l) l.push(x);
    else m.set(task, [x]);
  };
  for (const f of files.files) {
    for (const l of f.locks ?? []) if (l.task !== undefined) add(locksOf, l.task, { file: f.id, fd: l.fd! });
    // a registration whose number was closed (e.file: its file, put back at the number by the
    // helper) needs no fd of the task at that number
    for (const e of epollTargets(f)) if (e.file === undefined) add(targetsOf, e.task, { file: f.id, fd: e.fd });
  }
  const xstateSize = header.cpu.xstateSize;
  const shared = new SharedParts();
  const taskOf = new Map<number, TaskImage>(); // for its children's (SharedParts)
  // a task's record and its references, in a function of its own: a generator's loops run
  // unoptimized (V8 cannot compile into one mid-loop), 400,000 fds for 1,000 tasks
  const readTask = (t: TreeEntry, i: number): TaskImage => {
    const raw = take(RecordKind.Task, `TASK ${t.pid}`);
    if (minor < FORMAT_MINOR_VMAP && isMap(raw) && (raw.vmap !== undefined || raw.runp !== undefined)) throw new ImageError(where(`TASK ${t.pid}: packed mappings in a format ${major}.${minor} image`), { object: name });
    if (minor < FORMAT_MINOR_FMAP && isMap(raw) && (raw.fmap !== undefined || raw.ftab !== undefined)) throw new ImageError(where(`TASK ${t.pid}: packed file mappings in a format ${major}.${minor} image`), { object: name });
    if (minor < FORMAT_MINOR_FDP && isMap(raw) && raw.fdp !== undefined) throw new ImageError(where(`TASK ${t.pid}: a packed fd table in a format ${major}.${minor} image`), { object: name });
    if (minor < FORMAT_MINOR_SAME && isMap(raw) && raw.same !== undefined) throw new ImageError(where(`TASK ${t.pid}: parts taken from its parent in a format ${major}.${minor} image`), { object: name });
    const parent = taskOf.get(t.ppid);
    const task = checkTask(raw, where(`TASK ${t.pid}`), parent, t.ppid);
    if (minor < FORMAT_MINOR_AIO && otherVmas(task).some((v) => v.aio) /* packed ones are never rings */) throw new ImageError(where(`TASK ${t.pid}: an AIO ring's head and tail in a format ${major}.${minor} image`), { object: name });
    if (minor < FORMAT_MINOR_SLICE && task.attrs?.sched.some((s) => s.slice !== undefined)) throw new ImageError(where(`TASK ${t.pid}: a thread's own time slice in a format ${major}.${minor} image`), { object: name });
    if (task.pid !== t.pid)
      throw new ImageError(where(`TASK record ${i} is pid ${task.pid}, the tree says ${t.pid}`), { object: name });
    if (task.cwdObj !== undefined && !dirIds.has(task.cwdObj))
      throw new ImageError(where(`TASK ${t.pid}: the cwd refers to ${task.cwdObj}, which is not a removed directory of FILES`), { object: name });
    const fileOf = new Map<number, number>();
    const held = new Set<number>();
    const rows = fdRows(task);
    for (let k = 0; k < rows.length; k += 3) {
      const fd = rows[k]!;
      const file = rows[k + 1]!;
      if (!fileIds.has(file)) throw new ImageError(where(`TASK ${t.pid}: fd ${fd} refers to unknown file ${file}`), { object: name });
      fileOf.set(fd, file);
      held.add(file);
    }
    for (const l of locksOf.get(t.pid) ?? [])
      if (fileOf.get(l.fd) !== l.file)
        throw new ImageError(where(`TASK ${t.pid}: a lock on file ${l.file} names fd ${l.fd}, which is not that file`), { object: name });
    for (const e of targetsOf.get(t.pid) ?? [])
      if (!held.has(e.file) || !fileOf.has(e.fd))
        throw new ImageError(where(`TASK ${t.pid}: epoll ${e.file} target fd ${e.fd} is not held by the task`), { object: name });
    // format 1.8: the task's own may leave out the zeros at its end too (completed here)
    const xlen = xstateParts(task).len;
    if (xlen > xstateSize || (xlen < xstateSize && minor < FORMAT_MINOR_XTRIM)) throw new ImageError(where(`TASK ${t.pid}.xstate: ${xlen} bytes, the HEADER's cpu.xstateSize is ${xstateSize}`), { object: name });
    if (xlen < xstateSize) setXstateLen(task, xstateSize);
    // format 1.5: a thread's xstate may leave out the zeros at its end (never its legacy area
    // and XSAVE header: validate.ts takes 512 bytes at least)
    task.threads.forEach((th, k) => {
      if (th.xstate.length > xstateSize || (th.xstate.length < xstateSize && minor < FORMAT_MINOR_XSTATE))
        throw new ImageError(where(`TASK ${t.pid}.threads[${k}].xstate: ${th.xstate.length} bytes, the HEADER's cpu.xstateSize is ${xstateSize}`), { object: name });
    });
    for (const v of otherVmas(task)) {
      // (packed mappings name no object or segment)
      if (v.obj !== undefined && !objIds.has(v.obj))
        throw new ImageError(where(`TASK ${t.pid}: mapping 0x${v.start.toString(16)} refers to unknown content object ${v.obj}`), { object: name });
      if (v.shm && !shmIds.has(v.shm.id))
        throw new ImageError(where(`TASK ${t.pid}: mapping 0x${v.start.toString(16)} attaches unknown shared memory segment ${v.shm.id}`), { object: name });
    }
    shared.task(task, parent);
    taskOf.set(task.pid, task);
    return task;
  };
  const tasks: TaskImage[] = [];
  let paused = r.offset;
  for (const t of tree.tasks) {
    if (t.state === 'zombie') continue;
    if (r.offset - paused >= PAUSE_BYTES) {
      yield;
      paused = r.offset;
    }
    tasks.push(readTask(t, tasks.length));
  }
  const live = new Set(tasks.map((t) => t.pid));
  for (const f of files.files)
    for (const e of epollTargets(f))
      if (!live.has(e.task)) throw new ImageError(where(`FILES: epoll ${f.id} target fd ${e.fd} belongs to process ${e.task}, not a live task of the image`), { object: name });
  for (const f of files.files)
    for (const l of f.locks ?? [])
      if (l.task !== undefined && !live.has(l.task)) throw new ImageError(where(`FILES: a lock on file ${f.id} belongs to process ${l.task}, not a live task of the image`), { object: name });
  // threads moved alone into other cgroups, each one of its process's: the map of every task's
  // threads only made for an image that has some (checkTree: only with `cgroups`)
  if (tree.tasks.some((e) => e.threadCgroups)) {
    const threadsOf = new Map(tasks.map((t) => [t.pid, new Set(t.threads.map((th) => th.tid))]));
    for (const e of tree.tasks)
      for (const [tid] of e.threadCgroups ?? [])
        if (!threadsOf.get(e.pid)?.has(tid)) throw new ImageError(where(`TREE: process ${e.pid}: cgroups of thread ${tid}, not one of its threads`), { object: name });
  }
  const seccomp = seccompProblem(tasks);
  if (seccomp) throw new ImageError(where(`TASK ${seccomp}`), { object: name });
  const inherited = inheritedProblem(tasks, tree.tasks);
  if (inherited) throw new ImageError(where(`TASK ${inherited}`), { object: name });
  if (tasks.some((t) => t.inherited) && minor < 3) throw new ImageError(where('TASK: inherited pages in an image older than format 1.3'), { object: name });
  if (typeof fd === 'number' && !writing) checkStreamHolds(fd, r, name, files, tasks); // checkpoint's own check: the pages are being written
  return { meta: { major, minor, header, tree, files, ipc, tasks, digest, records }, reader: r };
}

/** An epoll's registrations, each made again by the task that holds the epoll and the target. */
const epollTargets = (f: FileImage) => ('epoll' in f && f.epoll) || [];

/**
 * An image file must hold the pages its metadata lists: what is left of it after the metadata
 * must cover them, at LZ4's best ratio (255) since any page record may be compressed (whether
 * the HEADER allows that is checked record by record). A pipe or socket cannot tell; its stream
 * ends in the trailer check.
 */
function checkStreamHolds(fd: number, r: ImageReader, name: string, files: ImageFiles, tasks: TaskImage[]): void {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch {
    return;
  }
  if (!st.isFile()) return;
  let pages = 0;
  for (const o of files.objects ?? []) for (const [, n] of o.runs) pages += n;
  for (const t of tasks) pages += runPages(t);
  const left = Math.max(0, st.size - r.offset);
  if (pages * PAGE_SIZE > left * 255)
    throw new ImageError(`${name}: truncated image: the metadata lists ${pages} pages (${pages * PAGE_SIZE} bytes), the ${left} bytes left in the image cannot hold them`, { object: name });
}

/** Decodes and checks a trailer payload the helper read, against the expected chain. */
export function checkTrailerBytes(name: string, payload: Buffer, expect: { digest: number; records: number; pageBytes: number }): Trailer {
  let v: CborValue;
  try {
    v = decode(payload);
  } catch (e) {
    throw new ImageError(`${name}: corrupt image: trailer: ${(e as Error).message}`, { object: name });
  }
  const t = checkTrailer(v, `${name}: TRAILER`);
  if (t.digest !== expect.digest || t.records !== expect.records || t.pageBytes !== expect.pageBytes)
    throw new ImageError(
      `${name}: corrupt image: the trailer does not match the records read (records ${t.records}/${expect.records}, page bytes ${t.pageBytes}/${expect.pageBytes}, digest ${t.digest}/${expect.digest})`,
      { object: name },
    );
  return t;
}
