/**
 * Where a checkpoint writes its image: a path (written as PATH.partial-PID, 0600, put in place
 * only when complete: renamed, or linked with --no-clobber so nothing is ever replaced), '-'
 * (stdout) or an open fd; whether its reader must take it to the last byte (a pipe or socket);
 * and the fd the acknowledgement of --kill-after-ack comes back on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { systemErrorText } from '../errno.js';
import { UcrError } from '../errors.js';
import type { CheckpointOptions } from './checkpoint.js';

export interface Output {
  fd: number;
  /** the partial file while it is written (the helper removes it if ucr dies) */
  partial?: string;
  /** after commit: an existing file was replaced */
  replaced?: boolean;
  commit(): void;
  abandon(): void;
  /** Lets go of the file commit() replaced (see there): once the tree runs again. */
  release(): void;
}

/** open(2)'s O_PATH (Linux): a reference to the inode, no access to its data. */
const O_PATH = 0o10000000;

/** The fd the acknowledgement is read from (killAfterAck), checked before anything is done. */
export function ackFdOf(opts: CheckpointOptions, out: Output): number | undefined {
  const a = opts.killAfterAck;
  if (!a) return undefined;
  if (a.fd !== undefined) {
    try {
      fs.fstatSync(a.fd);
    } catch (e) {
      throw new UcrError(`--ack-fd ${a.fd}: ${(e as Error).message}`, { code: 'EUSAGE' });
    }
    return a.fd;
  }
  if (!fs.fstatSync(out.fd).isSocket())
    throw new UcrError('--kill-after-ack: the output is not a socket, so the acknowledgement cannot come back on it: give --ack-fd', { code: 'EUSAGE' });
  return out.fd;
}

/** What -o names: 'stdout' ('-', or a path to the very file stdout is, such as /dev/stdout on a
 * pipe), 'special' (another FIFO or character device: written into, not replaced), or a 'file'
 * (new, or replaced by rename). The command line prints nothing else on stdout when the image
 * goes there. */
export function outputKind(out: string): 'stdout' | 'special' | 'file' {
  if (out === '-') return 'stdout';
  const own = ownFd(out);
  if (own !== undefined) return own === 1 ? 'stdout' : 'special';
  const st = fs.statSync(out, { throwIfNoEntry: false });
  return st && (st.isFIFO() || st.isCharacterDevice()) ? 'special' : 'file';
}

/**
 * The fd of this process that a path names: /dev/stdout, /dev/fd/N, /proc/self/fd/N (the link
 * to the file behind the fd, which is whatever stdout was redirected to, a regular file
 * included). The name's own symlinks are followed (a few), never the fd's link itself.
 */
function ownFd(out: string): number | undefined {
  const fdDir = `/proc/${process.pid}/fd`;
  let p = out;
  for (let hops = 0; hops < 8; hops++) {
    let dir: string;
    try {
      dir = fs.realpathSync(path.dirname(p));
    } catch {
      return undefined;
    }
    const base = path.basename(p);
    if (dir === fdDir && /^(0|[1-9][0-9]{0,8})$/.test(base)) return Number(base);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st?.isSymbolicLink()) return undefined;
    p = path.resolve(dir, fs.readlinkSync(p));
  }
  return undefined;
}

/** The output is a pipe or a socket: its reader must take the image to the last byte. */
export function streamed(fd: number): boolean {
  const st = fs.fstatSync(fd);
  return st.isFIFO() || st.isSocket();
}

export function openOutput(out: string | number, noClobber: boolean): Output {
  const none = () => {};
  if (typeof out === 'number') return { fd: out, commit: none, abandon: none, release: none };
  if (out === '-') return { fd: 1, commit: none, abandon: none, release: none };
  const refuse = (why: string, code: string) => new UcrError(`output ${out}: ${why}`, { code, object: out });
  // one of this process's fds (/dev/stdout...): written to as the fd itself is, like '-'
  const own = ownFd(out);
  if (own !== undefined) {
    try {
      fs.fstatSync(own);
    } catch {
      throw refuse(`names fd ${own}, which is not open (EBADF)`, 'EBADF');
    }
    return { fd: own, commit: none, abandon: none, release: none };
  }
  const st = fs.statSync(out, { throwIfNoEntry: false });
  if (st?.isDirectory()) throw refuse('is a directory (EISDIR)', 'EISDIR');
  if (st && !st.isFile()) return intoSpecial(out, st, refuse);
  if (noClobber && fs.lstatSync(out, { throwIfNoEntry: false })) throw refuse('already exists; refused (--no-clobber)', 'EEXIST');
  const tmp = `${out}.partial-${process.pid}`;
  let fd: number;
  try {
    fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (e) {
    // the partial file's name is ours: the user is told about the path they gave
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw refuse(code === 'ENOENT' ? `the directory ${path.dirname(out)} does not exist (ENOENT)` : `cannot create it: ${systemErrorText(e)}`, code);
  }
  fs.fchmodSync(fd, 0o600);
  let committed = false;
  // The file the image replaces, held (O_PATH, never following a symlink) so that the rename
  // does not free it: the kernel frees a replaced tmpfs file's pages in the rename itself
  // (~0.2 s per GiB here), which would keep the tree frozen that much longer. Its last
  // reference goes once the tree runs again (release), closed on libuv's threadpool.
  let old: number | undefined;
  const o: Output = {
    fd,
    partial: tmp,
    commit() {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      try {
        if (noClobber) {
          // link() fails if the name exists meanwhile: never replaces
          fs.linkSync(tmp, out);
          fs.rmSync(tmp);
        } else {
          try {
            old = fs.openSync(out, O_PATH | fs.constants.O_NOFOLLOW);
            o.replaced = true;
          } catch (e) {
            o.replaced = (e as NodeJS.ErrnoException).code === 'ENOENT' ? false : fs.lstatSync(out, { throwIfNoEntry: false }) !== undefined;
          }
          fs.renameSync(tmp, out);
        }
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
        throw refuse(code === 'EEXIST' ? 'already exists; refused (--no-clobber)' : `cannot put the image in place: ${systemErrorText(e)}`, code);
      }
      committed = true;
    },
    release() {
      if (old === undefined) return;
      fs.close(old, () => {});
      old = undefined;
    },
    /** removes the partial file, or the complete image when a post-dump action failed */
    abandon() {
      o.release();
      if (committed) return fs.rmSync(out, { force: true });
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
      fs.rmSync(tmp, { force: true });
    },
  };
  return o;
}

/**
 * A path that names a FIFO or a character device, directly or through symlinks (/dev/null,
 * /dev/stdout, a named pipe a reader waits on): the image is written into it, as the shell's `>`
 * would; renaming the image over it would have replaced the device or the pipe (or the
 * /dev/stdout link) with a regular file. A FIFO is a stream like '-' into a pipe (its reader
 * takes the last byte before --kill kills); its open waits for a reader, as the shell's does.
 * Block devices and sockets are refused (a socket's connection is given as '-' or an fd).
 */
function intoSpecial(out: string, st: fs.Stats, refuse: (why: string, code: string) => UcrError): Output {
  if (st.isBlockDevice()) throw refuse('is a block device: refused (an image goes to a file, a pipe or a character device)', 'EINVAL');
  if (!st.isFIFO() && !st.isCharacterDevice()) throw refuse("is a socket: refused (give its connection as '-' or an open fd)", 'EINVAL');
  let fd: number;
  try {
    fd = fs.openSync(out, fs.constants.O_WRONLY | fs.constants.O_NOCTTY);
  } catch (e) {
    throw refuse(`cannot open it: ${systemErrorText(e)}`, (e as NodeJS.ErrnoException).code ?? 'EIO');
  }
  // what was opened is what was looked at (the name may have changed meanwhile)
  const now = fs.fstatSync(fd);
  if (now.dev !== st.dev || now.ino !== st.ino) {
    fs.closeSync(fd);
    throw refuse('changed while it was opened: refused', 'EAGAIN');
  }
  let open = true;
  const close = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  // the helper writes through its own copy of the fd: this one is closed once the image is out
  return { fd, commit: close, abandon: close, release: () => {} };
}

/** The image file of a path output (written from offset 0) opened again for reading: the
 * checkpoint's check reads the metadata back from it instead of keeping a copy of it in memory.
 * undefined for stdout or an fd (then the check gets a copy as written). */
export function reopenForReading(o: Output): number | undefined {
  if (!o.partial) return undefined;
  try {
    return fs.openSync(`/proc/self/fd/${o.fd}`, 'r');
  } catch {
    return undefined;
  }
}
