/** Writes the metadata part of an image stream and its trailer (pages come from the helper). */
import { systemErrorText } from '../errno.js';
import { UcrError } from '../errors.js';
import { crc32c, digestAdd } from '../native/addon.js';
import { decodedCopy } from './cbor-decoded.js';
import { encode, type CborValue } from './cbor.js';
import { encodeTask } from './encode-task.js';
import { writevAll } from './fdio.js';
import { FORMAT_MAJOR, FORMAT_MINOR_FDP, FORMAT_MINOR_FMAP, FORMAT_MINOR_SAME, FORMAT_MINOR_XTRIM, FRAME_SIZE, MAGIC, RecordKind } from './format.js';
import { withoutFinalZeros } from './task-compact.js';
import { withoutSame, type SamePart } from './same-parts.js';
import { packFds } from './fd-pack.js';
import type { ImageFiles, ImageHeader, ImageIpc, ImageTree, TaskImage, Trailer } from './types.js';
import { packTask } from './vma-pack.js';
import { packFileVmas } from './file-vma-pack.js';
import type { KnownRecords } from './reader.js';

/** What the kept records' values may take decoded, at most (writer.keep). */
const KEEP_CHARGE = 4 << 20;

export class ImageWriter {
  /** crc chain over every record written so far (by this writer or, via addPages, the helper). */
  digest = 0;
  records = 0;
  bytes = 0;

  /** name: the output as the user gave it, for errors ("-" is stdout). */
  constructor(
    readonly fd: number,
    readonly name = 'image',
  ) {}

  /** The format minor written in the prelude. */
  private minor = 0;

  /** While set: a copy of what is written (copyFrom() .. copied()). */
  private copy: Buffer[] | undefined;

  /** Keeps a copy of what is written from now on (the checkpoint checks its metadata as bytes). */
  copyFrom(): void {
    this.copy = [];
  }

  /** The bytes written since copyFrom(), as written (not concatenated: the metadata of a large
   * tree is ~100 MB); stops copying. */
  copied(): Buffer[] {
    this.flush();
    const b = this.copy ?? [];
    this.copy = undefined;
    return b;
  }

  /** minor: the format minor the image needs (format-minor.ts) */
  prelude(minor: number): void {
    this.minor = minor;
    const b = Buffer.alloc(MAGIC.length + 8);
    MAGIC.copy(b, 0);
    b.writeUInt32LE(FORMAT_MAJOR, 8);
    b.writeUInt32LE(minor, 12);
    this.raw(b);
  }

  header(h: ImageHeader): void {
    this.plain(RecordKind.Header, h as unknown as CborValue);
  }

  tree(t: ImageTree): void {
    this.plain(RecordKind.Tree, t as unknown as CborValue);
  }

  files(f: ImageFiles): void {
    this.plain(RecordKind.Files, f as unknown as CborValue);
  }

  ipc(i: ImageIpc): void {
    this.plain(RecordKind.Ipc, i as unknown as CborValue);
  }

  /** A record encoded by the generic encoder; with keep, from the copy decode would give back,
   * kept for the check as the TASK records are (the FILES record of 10 tasks sharing 400
   * pipes: ~4 ms of the check's decoding, cold) */
  private plain(kind: RecordKind, v: CborValue): void {
    const d = this.keep && this.keptCharge < KEEP_CHARGE ? decodedCopy(v) : undefined;
    const bytes = encode(d ? d.value : v);
    if (d) {
      this.keptCharge += d.charge + bytes.length;
      this.kept.set(this.bytes + FRAME_SIZE, { bytes, value: d.value, charge: d.charge });
    }
    this.record(kind, bytes);
  }

  /** Set: the metadata records are encoded from the copy decode would give back (encode-task.ts), kept
   * with their bytes for the checkpoint's check (knownRecords), up to KEEP_CHARGE of decoded
   * values and bytes (format 1.8: a tree of 100 tasks ~2.9 MB, 100 x 400 fds ~3.8 MB; 1,000
   * tasks x 400 fds would be ~40 MB: the first ones only). */
  keep = false;
  private kept: KnownRecords = new Map();
  private keptCharge = 0;

  /** same: the parts of t equal to its parent's (same-parts.ts; its parent's record written
   * before), left out of its record */
  task(t: TaskImage, same: readonly SamePart[] = []): void {
    // a packed fd table and parts taken from the parent only in an image of a minor that has
    // them (format-minor.ts sees to it)
    // (packed mappings are never the same as the parent's: sameParts)
    let rec = packTask(this.minor >= FORMAT_MINOR_FDP ? packFds(t) : t) as TaskImage;
    if (this.minor >= FORMAT_MINOR_SAME) rec = withoutSame(rec, same);
    // and what is left of its mappings, their file mappings packed (format 1.10)
    if (this.minor >= FORMAT_MINOR_FMAP) rec = packFileVmas(rec);
    // the task's XSAVE area without its final zeros, as its threads' (format 1.5); ~9 KB of the
    // 11 KB of an area with AMX tiles not in use
    const xstate = this.minor >= FORMAT_MINOR_XTRIM ? withoutFinalZeros(rec.xstate) : rec.xstate;
    if (xstate !== rec.xstate) {
      if (rec === t) rec = { ...t }; // else a copy made above already
      rec.xstate = xstate;
    }
    const e = encodeTask(rec, this.keep && this.keptCharge < KEEP_CHARGE);
    if (e.decoded) {
      // the bytes kept with it count too: a record of a packed fd table and parts taken from its
      // parent (format 1.8) charges a few KB decoded, and 1,000 of them were kept (~13 MB)
      this.keptCharge += e.decoded.charge + e.bytes.length;
      this.kept.set(this.bytes + FRAME_SIZE, { bytes: e.bytes, value: e.decoded.value, charge: e.decoded.charge });
    }
    this.record(RecordKind.Task, e.bytes);
  }

  /** The records kept (by the offset of their payload in the image), handed over once: the
   * writer lets go of them (a checkpoint that fails before its check drops them so). */
  knownRecords(): KnownRecords {
    const k = this.kept;
    this.kept = new Map();
    return k;
  }

  /** Accounts for page records the helper wrote to the same fd. */
  addPages(records: number, bytes: number, digest: number): void {
    this.records += records;
    this.bytes += bytes;
    this.digest = digest;
  }

  trailer(pageBytes: number): Trailer {
    const t: Trailer = { records: this.records, pageBytes, digest: this.digest };
    this.record(RecordKind.Trailer, encode(t as unknown as CborValue));
    this.flush();
    return t;
  }

  private record(kind: RecordKind, payload: Buffer): void {
    const crc = crc32c(payload);
    const f = Buffer.alloc(FRAME_SIZE);
    f.writeUInt32LE(kind, 0);
    f.writeUInt32LE(crc, 4);
    f.writeUInt32LE(payload.length % 0x100000000, 8);
    f.writeUInt32LE(Math.floor(payload.length / 0x100000000), 12);
    this.raw(f, payload);
    this.digest = digestAdd(this.digest, crc);
    this.records++;
  }

  /** What raw() was given and has not written yet: written together (flush) every FLUSH_BYTES
   * or FLUSH_BUFFERS, and when the metadata or the trailer is complete. A tree of 100 tasks wrote
   * ~200 times, once per frame and once per payload, each a turn of the file's lock (which the
   * helper's reservation of the page blocks takes too: native/helper/stream/pipeline_writer.c). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** bytes to write next (a record's frame and its payload) */
  private raw(...bufs: Buffer[]): void {
    for (const x of bufs) {
      // an encoded record sits in a buffer grown by doubling: the copy kept for the checks (all
      // of a large tree's metadata at once) holds only its bytes
      this.copy?.push(x.buffer.byteLength > x.length + 4096 ? Buffer.from(x) : x);
      this.pending.push(x);
      this.pendingBytes += x.length;
      this.bytes += x.length;
    }
    if (this.pendingBytes >= FLUSH_BYTES || this.pending.length >= FLUSH_BUFFERS) this.flush();
  }

  /** Everything given so far is in the file (the helper writes after it). */
  flush(): void {
    const bufs = this.pending;
    if (!bufs.length) return;
    this.pending = [];
    this.pendingBytes = 0;
    try {
      writevAll(this.fd, bufs);
    } catch (e) {
      const x = e as NodeJS.ErrnoException;
      const why = x.code === 'EPIPE' ? 'the reader of the output went away (EPIPE)' : systemErrorText(x);
      throw new UcrError(`output ${this.name === '-' ? '- (stdout)' : this.name}: cannot write the image: ${why}`, {
        code: x.code,
        object: this.name,
        syscall: 'write',
        errno: typeof x.errno === 'number' ? -x.errno : undefined,
      });
    }
  }
}

const FLUSH_BYTES = 256 * 1024;
/** (writev takes at most IOV_MAX = 1024) */
const FLUSH_BUFFERS = 512;
