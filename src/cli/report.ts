/**
 * What the command line writes and how it ends: its text on stdout and stderr, one error line on
 * stderr (`ucr: <object>: <reason> (ENAME)`), a usage error as that line plus where to read
 * more, and a reader of stdout that went away (`ucr inspect img | head`) as a quiet stop with
 * the SIGPIPE status, like any Unix tool.
 *
 * Text goes out with write(2) at once (fs.writeSync), not through process.stdout and
 * process.stderr: making those streams loads the stream modules and node:net or node:tty
 * (~2 ms of every command, docs/performance.md, "Seventeenth session"). An fd that is
 * non-blocking (EAGAIN: a pipe the parent made so) is handed to its stream from then on, which
 * waits for it.
 */
import fs from 'node:fs';
import { systemErrorText } from '../errno.js';
import { oneLine, UcrError } from '../errors.js';
import { EXIT_USAGE, exitCodeOf } from './exit-codes.js';

/** 128 + SIGPIPE: what a shell shows for a tool stopped by a reader that went away. */
export const EXIT_SIGPIPE = 141;

/** The one line an error is shown as (without "ucr: " and the newline). Errors from the library
 * name their object already; a Node system error that got here without one is named by its
 * path (never a temporary file of ucr's own) and said in words. */
export function errorText(e: unknown): string {
  if (e instanceof UcrError) return e.message;
  const x = e as NodeJS.ErrnoException;
  if (x && typeof x.code === 'string' && /^E[A-Z0-9]+$/.test(x.code) && typeof x.errno === 'number') {
    const object = (x.path ?? x.syscall ?? 'ucr').replace(/\.partial-\d+$/, '');
    return oneLine(`${object}: ${systemErrorText(x)}`);
  }
  return oneLine(e instanceof Error ? e.message : String(e));
}

/** `ucr: <command>: <message>` and `see 'ucr <command> --help'`: two lines. */
export function usageText(command: string | undefined, message: string): string {
  const where = command ? `${command}: ` : '';
  const msg = oneLine(message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').replace('(Did you mean', '(did you mean').trim());
  return `ucr: ${msg.startsWith(where) ? msg : where + msg}\nsee 'ucr ${command ? `${command} ` : ''}--help'\n`;
}

export function usage(command: string | undefined, message: string): never {
  writeErr(usageText(command, message));
  process.exit(EXIT_USAGE);
}

/** Prints the error's line (a usage error of `command` with its pointer to the help) and exits
 * with its status (interruptedStatus for an aborted operation). */
export function fail(e: unknown, command?: string, interruptedStatus?: number): never {
  const status = exitCodeOf(e, interruptedStatus);
  if (status === EXIT_USAGE) usage(command, errorText(e));
  writeErr(`ucr: ${errorText(e)}\n`);
  if (process.env.UCR_DEBUG && e instanceof Error) writeErr(`${e.stack}\n`);
  process.exit(status);
}

/** The fds whose text goes through their stream (process.stdout, process.stderr) from now on. */
const viaStream = new Set<number>();

/** A stream's failure: a reader of stdout that went away stops ucr quietly; stderr that cannot
 * be written is given up on (there is nobody to tell). */
function stdoutFailed(e: NodeJS.ErrnoException): never | void {
  if (e.code === 'EPIPE') process.exit(EXIT_SIGPIPE);
  fail(new UcrError(`stdout: cannot write: ${systemErrorText(e)}`));
}

function streamOf(fd: 1 | 2): NodeJS.WriteStream {
  const s = fd === 1 ? process.stdout : process.stderr;
  if (!viaStream.has(fd)) {
    viaStream.add(fd);
    s.on('error', fd === 1 ? stdoutFailed : () => {});
  }
  return s;
}

function writeFd(fd: 1 | 2, text: string): void {
  if (viaStream.has(fd)) return void streamOf(fd).write(text);
  const b = Buffer.from(text);
  for (let at = 0; at < b.length; ) {
    try {
      at += fs.writeSync(fd, b, at);
    } catch (e) {
      const x = e as NodeJS.ErrnoException;
      if (x.code === 'EINTR') continue;
      if (x.code === 'EAGAIN') return void streamOf(fd).write(b.subarray(at));
      if (fd === 2) return;
      stdoutFailed(x);
      return;
    }
  }
}

/** Writes text to stdout; it is written when this returns (or queued on its stream, see above). */
export function writeOut(text: string): void {
  writeFd(1, text);
}

/** Writes text to stderr (see writeOut); a failure is given up on. */
export function writeErr(text: string): void {
  writeFd(2, text);
}

/** Writes to stdout and waits until it is written: an exit right after it (restart's status)
 * cannot hide that the reader went away. */
export async function writeOutAll(text: string): Promise<void> {
  writeFd(1, text);
  if (viaStream.has(1)) await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
}
