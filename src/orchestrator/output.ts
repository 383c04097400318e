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
import { openNonFile, writeTarget } from '../write-target.js';
import { native } from '../native/addon.js';

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

/** What -o names: 'stdout' ('-', or a path to this process's stdout such as /dev/stdout),
 * 'special' (another fd, a FIFO or a character device: written into, not replaced; write-target.ts)
 * or a 'file' made (new, or replacing one by rename). The command line prints nothing else on
 * stdout when the image goes there. */
export function outputKind(out: string): 'stdout' | 'special' | 'file' {
  if (out === '-') return 'stdout';
  const t = writeTarget(out);
  return t.kind === 'fd' ? (t.fd === 1 ? 'stdout' : 'special') : t.kind === 'special' ? 'special' : 'file';
}

/** The output is a pipe or a socket: its reader must take the image to the last byte. */
export function streamed(fd: number): boolean {
  const st = fs.fstatSync(fd);
  return st.isFIFO() || st.isSocket();
}

/** An image is binary: never written to a terminal that '-' or a path names (as gzip refuses);
 * an fd given by number is the caller's choice. */
const TERMINAL = 'is a terminal: refused (an image is binary: redirect it to a file or a pipe)';

export function openOutput(out: string | number, noClobber: boolean): Output {
  const none = () => {};
  if (typeof out === 'number') return { fd: out, commit: none, abandon: none, release: none };
  const refuse = (why: string, code: string) => new UcrError(`output ${out === '-' ? 'stdout' : out}: ${why}`, { code, object: out });
  // '-', or a name that is no file to replace (write-target.ts): one of this process's fds
  // (/dev/stdout) written to as the fd itself, a FIFO or a character device written into
  const named = out === '-' ? { fd: 1, own: true } : openNonFile(out, refuse);
  if (named) return intoNamed(named, refuse);
  if (fs.statSync(out, { throwIfNoEntry: false })?.isDirectory()) throw refuse('is a directory (EISDIR)', 'EISDIR');
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

/** The image written into stdout, another fd of this process, a FIFO or a character device (a
 * FIFO is a stream like '-' into a pipe: its reader takes the last byte before --kill kills);
 * never into a terminal. An fd this opened is closed once the image is out (the helper writes
 * through its own copy). */
function intoNamed({ fd, own }: { fd: number; own: boolean }, refuse: (why: string, code: string) => UcrError): Output {
  let open = !own;
  const close = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  if (native().isatty(fd)) {
    close();
    throw refuse(TERMINAL, 'EINVAL');
  }
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
