/**
 * Synchronous, exact reads and writes on a raw fd that may be a file, pipe or socket, possibly
 * in O_NONBLOCK mode (the fd is shared with the native helper, which reads or writes the page
 * data in between: Node streams would read ahead or buffer, so they are not used).
 */
import fs from 'node:fs';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function pause(): void {
  Atomics.wait(sleeper, 0, 0, 2);
}

export function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') pause();
      else throw e;
    }
  }
}

/** writeAll of several buffers one after the other, in one writev when the fd takes them all
 * (a record's frame and payload: one system call, one turn of a file's lock, not two). */
export function writevAll(fd: number, bufs: Uint8Array[]): void {
  let done: number;
  try {
    done = fs.writevSync(fd, bufs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    done = 0;
  }
  for (const b of bufs) {
    if (done >= b.length) {
      done -= b.length;
      continue;
    }
    writeAll(fd, done ? b.subarray(done) : b);
    done = 0;
  }
}

/** Reads up to n bytes (at position, or at the fd's offset when null); fewer only at the end. */
export function readUpTo(fd: number, n: number, position: number | null = null): Buffer {
  const buf = Buffer.alloc(n);
  let off = 0;
  while (off < n) {
    let got: number;
    try {
      got = fs.readSync(fd, buf, off, n - off, position === null ? null : position + off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        pause();
        continue;
      }
      if (code === 'EOF') break;
      throw e;
    }
    if (got === 0) break;
    off += got;
  }
  return off === n ? buf : buf.subarray(0, off);
}
