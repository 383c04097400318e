/**
 * What the command line writes and how it ends: its text on stdout and stderr, one error line on
 * stderr (`ucr: <object>: <reason> (ENAME)`), a usage error as that line plus where to read
 * more, and a reader of stdout that went away (`ucr inspect img | head`) as a quiet stop with
 * the SIGPIPE status, like any Unix tool.
 *
 * Text goes out with write(2) at once (fs.writeSync), not through process.stdout and
 * process.stderr: making those streams loads the stream modules and node:net or node:tty
 * (~2 ms of every command, docs/performance.md, "Seventeenth session"); the text is out when
 * the call returns, so a command can end at once (run.ts exitNow). An fd the caller made
 * non-blocking is waited for (EAGAIN) as a blocking one would be.
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

/** A reader of stdout that went away stops ucr quietly; another failure is one line. */
function stdoutFailed(e: NodeJS.ErrnoException): never {
  if (e.code === 'EPIPE') process.exit(EXIT_SIGPIPE);
  fail(new UcrError(`stdout: cannot write: ${systemErrorText(e)}`));
}

/** Something to wait on for a millisecond (Atomics.wait: a sleep that keeps the order). */
const nap = new Int32Array(new SharedArrayBuffer(4));

function writeFd(fd: 1 | 2, text: string): void {
  const b = Buffer.from(text);
  for (let at = 0; at < b.length; ) {
    try {
      at += fs.writeSync(fd, b, at);
    } catch (e) {
      const x = e as NodeJS.ErrnoException;
      if (x.code === 'EINTR') continue;
      // a non-blocking fd (the caller's choice) whose reader is behind: its turn comes, as a
      // blocking write's would
      if (x.code === 'EAGAIN') {
        Atomics.wait(nap, 0, 0, 1);
        continue;
      }
      if (fd === 2) return; // stderr that cannot be written: there is nobody to tell
      stdoutFailed(x);
    }
  }
}

/** Writes text to stdout: it is written when this returns. */
export function writeOut(text: string): void {
  writeFd(1, text);
}

/** Writes text to stderr: it is written when this returns; a failure is given up on. */
export function writeErr(text: string): void {
  writeFd(2, text);
}
