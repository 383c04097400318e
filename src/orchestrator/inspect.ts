/**
 * Reads a whole image and describes it: metadata as validated, then every page record's frame
 * (on a seekable file the page data is skipped), then the trailer, checked against the records
 * seen, then the end of the image (data after the trailer is refused). An image without a valid
 * trailer is reported as incomplete (an error).
 * With --verify the page records are read and checked by the helper with the very code a restart
 * uses (restart-plan.ts verifyPages: order, task, address, object, lengths, LZ4, SHM segments,
 * checksums), so what inspect --verify accepts, restart accepts.
 */
import fs from 'node:fs';
import { ImageError } from '../errors.js';
import { contentBytes } from '../kernel/objects.js';
import { FRAME_SIZE, MAX_CHUNK_PAGES, MAX_TRAILER, PAGE_SIZE, PAGES_HEADER_SIZE, RecordKind } from '../image/format.js';
import { readUpTo } from '../image/fdio.js';
import { openImage } from '../image/open.js';
import { checkTrailerBytes, readMetadata } from '../image/reader.js';
import { verifyPages } from './restart-plan.js';
import type { ImageMetadata, Trailer } from '../image/types.js';
import { crc32c, digestAdd } from '../native/addon.js';

export interface InspectOptions {
  input: string | number;
  /** Check every page record as a restart does (reads all page data). */
  verify?: boolean;
}

export interface InspectResult {
  image: string;
  format: string;
  meta: ImageMetadata;
  pageRecords: number;
  pageBytes: number;
  /** System V shared memory contents (SHM records; all-zero pages are left out) */
  shmBytes: number;
  /** compressed images: bytes of the LZ4 blocks (their raw size counts in pageBytes / shmBytes) */
  compressedBytes?: number;
  verified: boolean;
  trailer: Trailer;
}

export function inspect(opts: InspectOptions): InspectResult {
  const { fd, name, close } = openImage(opts.input);
  try {
    const seekable = typeof opts.input === 'string' && opts.input !== '-' && fs.fstatSync(fd).isFile();
    // --verify: read in order, so the helper goes on from the fd's offset right after the metadata
    const { meta, reader } = readMetadata(fd, name, seekable && !opts.verify);
    if (opts.verify) {
      const { loaded, trailer } = verifyPages(fd, name, meta);
      return {
        image: name,
        format: `${meta.major}.${meta.minor}`,
        meta,
        pageRecords: loaded.records,
        pageBytes: loaded.bytes,
        shmBytes: loaded.shmBytes,
        ...(meta.header.compress ? { compressedBytes: loaded.stored ?? 0 } : {}),
        verified: true,
        trailer,
      };
    }
    let digest = meta.digest;
    let records = meta.records;
    let pageRecords = 0;
    let pageBytes = 0;
    let shmBytes = 0;
    let storedBytes = 0;
    for (;;) {
      const f = reader.frame();
      if (f.kind === RecordKind.Trailer) {
        if (f.length < 0 || f.length > MAX_TRAILER) throw new ImageError(`${name}: corrupt image: trailer too long`);
        const payload = reader.exactly(f.length, 'the trailer');
        if (crc32c(payload) !== f.crc) throw new ImageError(`${name}: corrupt image: trailer checksum mismatch`);
        const expectBytes = contentBytes(meta.files.objects, meta.tasks);
        if (pageBytes !== expectBytes) throw new ImageError(`${name}: corrupt image: ${pageBytes} page bytes, metadata lists ${expectBytes}`);
        const trailer = checkTrailerBytes(name, payload, { digest, records, pageBytes: pageBytes + shmBytes });
        if (seekable ? reader.offset !== fs.fstatSync(fd).size : readUpTo(fd, 1).length !== 0)
          throw new ImageError(`${name}: corrupt image: data after the trailer`);
        return { image: name, format: `${meta.major}.${meta.minor}`, meta, pageRecords, pageBytes, shmBytes, ...(meta.header.compress ? { compressedBytes: storedBytes } : {}), verified: false, trailer };
      }
      const shm = f.kind === RecordKind.Shm;
      if (shm && !meta.ipc.shm.length) throw new ImageError(`${name}: corrupt image: shared memory record without segments at byte ${reader.offset - FRAME_SIZE}`);
      const lz4 = f.kind === RecordKind.PagesLz4 || f.kind === RecordKind.ObjectLz4;
      if (lz4 && !meta.header.compress) throw new ImageError(`${name}: corrupt image: compressed page record in an image without compression at byte ${reader.offset - FRAME_SIZE}`);
      if (f.kind !== RecordKind.Pages && f.kind !== RecordKind.Object && !shm && !lz4) throw new ImageError(`${name}: corrupt image: unexpected record kind ${f.kind} at byte ${reader.offset - FRAME_SIZE}`);
      if (
        f.length < PAGES_HEADER_SIZE ||
        f.length > PAGES_HEADER_SIZE + MAX_CHUNK_PAGES * PAGE_SIZE ||
        (lz4 ? f.length === PAGES_HEADER_SIZE : (f.length - PAGES_HEADER_SIZE) % PAGE_SIZE !== 0)
      )
        throw new ImageError(`${name}: corrupt image: page record of ${f.length} bytes at byte ${reader.offset - FRAME_SIZE}`);
      const head = reader.exactly(PAGES_HEADER_SIZE, 'a page record');
      const npages = head.readUInt32LE(4);
      const raw = lz4 ? npages * PAGE_SIZE : f.length - PAGES_HEADER_SIZE;
      if (lz4 && (npages === 0 || npages > MAX_CHUNK_PAGES || f.length >= PAGES_HEADER_SIZE + raw))
        throw new ImageError(`${name}: corrupt image: compressed page record of ${f.length} bytes for ${npages} pages at byte ${reader.offset - PAGES_HEADER_SIZE - FRAME_SIZE}`);
      let left = f.length - PAGES_HEADER_SIZE;
      if (!seekable) {
        while (left > 0) left -= reader.exactly(Math.min(left, 1 << 20), 'page data').length;
      } else {
        reader.skip(left);
        if (reader.offset > fs.fstatSync(fd).size) throw new ImageError(`${name}: truncated image: page data cut short`);
      }
      digest = digestAdd(digest, f.crc);
      records++;
      pageRecords++;
      if (shm) shmBytes += raw;
      else pageBytes += raw;
      if (lz4) storedBytes += f.length - PAGES_HEADER_SIZE;
    }
  } finally {
    close();
  }
}
