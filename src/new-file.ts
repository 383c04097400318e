/**
 * Files ucr writes besides the image (--trace, --log-file), made the way the image writer makes
 * the image: created new, mode 0600, at `<file>.partial-<pid>` in the target directory with
 * O_CREAT | O_EXCL | O_NOFOLLOW (so a symlink or a file someone planted there is never followed
 * nor written into), then renamed onto the name: a symlink at the name is replaced, never
 * followed. The rename fails where the directory forbids it (another user's file in a sticky
 * directory), and the temporary file is removed. A name that is no file to replace
 * (write-target.ts: /dev/stderr, /dev/null, a named pipe) is written into instead.
 */
import fs from 'node:fs';
import { UcrError } from './errors.js';
import { openNonFile } from './write-target.js';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

/** A new file at `file` (already in place) open for writing, or the pipe or device it names:
 * its fd, and whether it is the caller's to close (not when the name is one of this process's
 * own fds, such as /dev/stderr, which is written to as it is: it may be a socket, which no open
 * of /proc/self/fd/N reaches). */
export function createNewFile(file: string, what: string): { fd: number; close: boolean } {
  const named = openNonFile(file, (why, code) => new UcrError(`${what} ${file}: ${why}`, { code, object: file }));
  if (named) return { fd: named.fd, close: !named.own };
  const tmp = `${file}.partial-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    fs.fchmodSync(fd, 0o600);
    fs.renameSync(tmp, file);
    return { fd, close: true };
  } catch (e) {
    if (fd !== undefined) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    }
    const err = e as NodeJS.ErrnoException;
    throw new UcrError(`${what} ${file}: ${err.code === 'EEXIST' ? `${tmp} exists` : err.message}`, { code: err.code, object: file });
  }
}

/** Writes data as a new file at `file` (see above). */
export function writeNewFile(file: string, data: string | Uint8Array, what: string): void {
  const { fd, close } = createNewFile(file, what);
  try {
    fs.writeFileSync(fd, data);
    if (fs.fstatSync(fd).isFile()) fs.fsyncSync(fd); // a pipe or a device has nothing to sync
  } finally {
    if (close) fs.closeSync(fd);
  }
}
