/**
 * Where a path that ucr is asked to write (the image's -o, --trace, --log-file) really goes.
 * ucr makes its files new and renames them onto the name (an existing file or a symlink there is
 * replaced, never followed or written into). That is wrong for a name that is not a file to
 * replace: renaming onto /dev/null, onto the /dev/stdout link or onto a named pipe would, as
 * root, put a regular file in their place. So:
 * - 'fd': one of this process's own fds (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N:
 *   the link to whatever the fd is, a regular file it was redirected to included);
 * - 'special': a FIFO or a character device, itself or through symlinks (/dev/null, a named pipe
 *   a reader waits on, a terminal): opened and written into, as the shell's `>` does;
 * - 'refused': a block device or a socket (it cannot be opened, and a typo must not write a
 *   disk);
 * - 'file': anything else (nothing there, a regular file, a symlink to one): made new and
 *   renamed onto the name, as before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { systemErrorText } from './errno.js';

export type WriteTarget = { kind: 'fd'; fd: number } | { kind: 'special'; st: fs.Stats } | { kind: 'refused'; why: string } | { kind: 'file' };

/** What a path to write names (see above). A directory is a 'file' here: its caller says why not. */
export function writeTarget(file: string): WriteTarget {
  const fd = ownFd(file);
  if (fd !== undefined) return { kind: 'fd', fd };
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st || st.isFile() || st.isDirectory()) return { kind: 'file' };
  if (st.isFIFO() || st.isCharacterDevice()) return { kind: 'special', st };
  return { kind: 'refused', why: st.isBlockDevice() ? 'is a block device: refused' : "is a socket: refused (give its connection as '-' or an open fd)" };
}

/**
 * The fd of this process that a path names. The name's own symlinks are followed (a few), the
 * fd's magic link never: /proc/self/fd/1 of a process whose stdout is a file is that file.
 */
function ownFd(file: string): number | undefined {
  const fdDir = `/proc/${process.pid}/fd`;
  let p = file;
  for (let hops = 0; hops < 8; hops++) {
    let dir: string;
    try {
      dir = fs.realpathSync(path.dirname(p));
    } catch {
      return undefined;
    }
    const base = path.basename(p);
    if (dir === fdDir && /^(0|[1-9][0-9]{0,8})$/.test(base)) return Number(base);
    try {
      if (!fs.lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink()) return undefined;
      p = path.resolve(dir, fs.readlinkSync(p));
    } catch {
      return undefined; // not ours to look at: the caller's own checks say why
    }
  }
  return undefined;
}

/**
 * For a name that is no file to replace: an fd to write the name's target through, and whether
 * it is one of this process's own (written to as it is, never the caller's to close: it may be a
 * socket, which no open of /proc/self/fd/N reaches). A FIFO or character device is opened
 * (O_NOCTTY: a terminal named here never becomes ucr's controlling terminal; a FIFO's open waits
 * for its reader, as the shell's does) and checked to be what writeTarget looked at. undefined
 * for a 'file', which the caller makes; errors through fail(why, code), which names the object.
 */
export function openNonFile(file: string, fail: (why: string, code: string) => Error): { fd: number; own: boolean } | undefined {
  const t = writeTarget(file);
  if (t.kind === 'file') return undefined;
  if (t.kind === 'refused') throw fail(t.why, 'EINVAL');
  if (t.kind === 'fd') {
    try {
      fs.fstatSync(t.fd);
    } catch {
      throw fail(`names fd ${t.fd}, which is not open (EBADF)`, 'EBADF');
    }
    return { fd: t.fd, own: true };
  }
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NOCTTY);
  } catch (e) {
    throw fail(`cannot open it: ${systemErrorText(e)}`, (e as NodeJS.ErrnoException).code ?? 'EIO');
  }
  const now = fs.fstatSync(fd);
  if (now.dev !== t.st.dev || now.ino !== t.st.ino) {
    fs.closeSync(fd);
    throw fail('changed while it was opened: refused', 'EAGAIN');
  }
  return { fd, own: false };
}
