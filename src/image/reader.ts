/**
 * Reads and validates an image's metadata (prelude, HEADER, TREE, FILES, IPC, TASK records) from an fd,
 * consuming exactly those bytes, so the page records that follow can be handed to native code
 * on the same fd. Every failure is an ImageError that says what is wrong.
 */
import { crc32c, digestAdd } from '../native/addon.js';
import { CborError, decode, type CborValue } from './cbor.js';
import { readUpTo } from './fdio.js';
import {
  FORMAT_MAJOR,
  FORMAT_MINOR,
  FRAME_SIZE,
  MAGIC,
  MAX_METADATA_RECORD,
  MAX_TRAILER,
  PRELUDE_SIZE,
  RecordKind,
} from './format.js';
import { systemErrorText } from '../errno.js';
import { ImageError } from '../errors.js';
import type { ImageMetadata, Trailer } from './types.js';
import { checkFiles, checkHeader, checkTask, checkTrailer, checkTree } from './validate.js';
import { checkIpc } from './validate-ipc.js';

export interface Frame {
  kind: number;
  crc: number;
  length: number;
}

export class ImageReader {
  offset = 0;
  /** positional: read at this.offset (files; allows skip()) instead of consuming the fd offset. */
  constructor(readonly fd: number, readonly name: string, readonly positional = false) {}

  exactly(n: number, what: string): Buffer {
    let b: Buffer;
    try {
      b = readUpTo(this.fd, n, this.positional ? this.offset : null);
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
      throw new ImageError(`${this.name}: corrupt image: ${what} record claims ${f.length} bytes`, { object: this.name });
    const start = this.offset;
    const p = this.exactly(f.length, `the ${what} record`);
    if (crc32c(p) !== f.crc)
      throw new ImageError(`${this.name}: corrupt image: checksum mismatch in the ${what} record at byte ${start}`, {
        object: this.name,
      });
    try {
      return decode(p);
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

export function readMetadata(fd: number, name: string, positional = false): { meta: ImageMetadata; reader: ImageReader } {
  const r = new ImageReader(fd, name, positional);
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
  if (tree.tasks[0]!.pid !== header.root) throw new ImageError(where(`TREE: the first task is not the root ${header.root}`), { object: name });
  const files = checkFiles(take(RecordKind.Files, 'FILES'), where('FILES'));
  const ipc = minor >= 1 ? checkIpc(take(RecordKind.Ipc, 'IPC'), where('IPC')) : { ownNamespace: false, shm: [], sem: [], msg: [] };
  const shmIds = new Set(ipc.shm.map((x) => x.id));
  const fileIds = new Set(files.files.map((f) => f.id));
  const objIds = new Set((files.objects ?? []).map((s) => s.id));
  const tasks = tree.tasks
    .filter((t) => t.state !== 'zombie')
    .map((t, i) => {
      const task = checkTask(take(RecordKind.Task, `TASK ${t.pid}`), where(`TASK ${t.pid}`));
      if (task.pid !== t.pid)
        throw new ImageError(where(`TASK record ${i} is pid ${task.pid}, the tree says ${t.pid}`), { object: name });
      for (const fd of task.fds)
        if (!fileIds.has(fd.file)) throw new ImageError(where(`TASK ${t.pid}: fd ${fd.fd} refers to unknown file ${fd.file}`), { object: name });
      for (const f of files.files)
        for (const l of f.locks ?? [])
          if (l.task === t.pid && !task.fds.some((d) => d.fd === l.fd && d.file === f.id))
            throw new ImageError(where(`TASK ${t.pid}: a lock on file ${f.id} names fd ${l.fd}, which is not that file`), { object: name });
      for (const f of files.files)
        for (const e of f.epoll ?? [])
          if (e.task === t.pid && (!task.fds.some((d) => d.file === f.id) || !task.fds.some((d) => d.fd === e.fd)))
            throw new ImageError(where(`TASK ${t.pid}: epoll ${f.id} target fd ${e.fd} is not held by the task`), { object: name });
      for (const v of task.vmas) {
        if (v.obj !== undefined && !objIds.has(v.obj))
          throw new ImageError(where(`TASK ${t.pid}: mapping 0x${v.start.toString(16)} refers to unknown content object ${v.obj}`), { object: name });
        if (v.shm && !shmIds.has(v.shm.id))
          throw new ImageError(where(`TASK ${t.pid}: mapping 0x${v.start.toString(16)} attaches unknown shared memory segment ${v.shm.id}`), { object: name });
      }
      return task;
    });
  const live = new Set(tasks.map((t) => t.pid));
  for (const f of files.files)
    for (const e of f.epoll ?? [])
      if (!live.has(e.task)) throw new ImageError(where(`FILES: epoll ${f.id} target fd ${e.fd} belongs to process ${e.task}, not a live task of the image`), { object: name });
  for (const f of files.files)
    for (const l of f.locks ?? [])
      if (l.task !== undefined && !live.has(l.task)) throw new ImageError(where(`FILES: a lock on file ${f.id} belongs to process ${l.task}, not a live task of the image`), { object: name });
  return { meta: { major, minor, header, tree, files, ipc, tasks, digest, records }, reader: r };
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
