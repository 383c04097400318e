/** Typed errors. Every error names the object and the reason in its message (one line). */
import { printable } from './image/printable.js';

export interface UcrErrorDetails {
  code?: string;
  pid?: number;
  phase?: string;
  object?: string;
  syscall?: string;
  errno?: number;
  cause?: unknown;
}

/** Messages often quote what an image holds (names, paths), which may be forged: control
 * characters are escaped, so an error stays one line and cannot drive the user's terminal. */
export function oneLine(s: string): string {
  return printable(s);
}

export class UcrError extends Error {
  override name = 'UcrError';
  code: string;
  pid?: number;
  phase?: string;
  object?: string;
  syscall?: string;
  errno?: number;
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(oneLine(message), details.cause !== undefined ? { cause: details.cause } : undefined);
    this.code = details.code ?? 'EUCR';
    this.pid = details.pid;
    this.phase = details.phase;
    this.object = details.object;
    this.syscall = details.syscall;
    this.errno = details.errno;
  }
}

/** The image is truncated, corrupt, of another version, or describes impossible state. */
export class ImageError extends UcrError {
  override name = 'ImageError';
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(message, { code: 'EIMAGE', ...details });
  }
}

/** The image was made on a kernel or CPU this machine does not match (see --force). */
export class HostMismatchError extends UcrError {
  override name = 'HostMismatchError';
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(message, { code: 'EHOSTMISMATCH', ...details });
  }
}

export class PidInUseError extends UcrError {
  override name = 'PidInUseError';
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(message, { code: 'EPIDINUSE', ...details });
  }
}

export class PermissionError extends UcrError {
  override name = 'PermissionError';
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(message, { code: 'EPERM', ...details });
  }
}

/** The process holds something this version cannot checkpoint or restore faithfully. */
export class UnsupportedError extends UcrError {
  override name = 'UnsupportedError';
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(message, { code: 'EUNSUPPORTED', ...details });
  }
}

/** A step of checkpoint or restart failed in the native helper or the kernel. */
export class RestoreError extends UcrError {
  override name = 'RestoreError';
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(message, { code: 'ERESTORE', ...details });
  }
}

export class CheckpointError extends UcrError {
  override name = 'CheckpointError';
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(message, { code: 'ECHECKPOINT', ...details });
  }
}

/** An --action-script (or action hook) failed or refused: the operation was abandoned. */
export class ActionError extends UcrError {
  override name = 'ActionError';
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(message, { code: 'EACTION', ...details });
  }
}

/** The operation was aborted through its AbortSignal (or SIGINT/SIGTERM of the CLI): a
 * checkpoint left the tree running as it was, a restart left no process behind. */
export class AbortedError extends UcrError {
  override name = 'AbortedError';
  constructor(message: string, details: UcrErrorDetails = {}) {
    super(message, { code: 'ABORT_ERR', ...details });
  }
}
