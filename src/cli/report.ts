/**
 * How the command line ends: one error line on stderr (`ucr: <object>: <reason> (ENAME)`), a
 * usage error as that line plus where to read more, and a reader of stdout that went away
 * (`ucr inspect img | head`) as a quiet stop with the SIGPIPE status, like any Unix tool.
 */
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
  process.stderr.write(usageText(command, message));
  process.exit(EXIT_USAGE);
}

/** Prints the error's line (a usage error of `command` with its pointer to the help) and exits
 * with its status (interruptedStatus for an aborted operation). */
export function fail(e: unknown, command?: string, interruptedStatus?: number): never {
  const status = exitCodeOf(e, interruptedStatus);
  if (status === EXIT_USAGE) usage(command, errorText(e));
  process.stderr.write(`ucr: ${errorText(e)}\n`);
  if (process.env.UCR_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(status);
}

/** Writes to stdout and waits until it is written: an exit right after it (restart's status)
 * cannot hide that the reader went away. */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(text, (e) => (e ? undefined : resolve())));
}

/** A reader of stdout that exits (EPIPE) stops ucr quietly; stderr that cannot be written is
 * given up on (there is nobody to tell). */
export function guardStdio(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT_SIGPIPE);
    fail(new UcrError(`stdout: cannot write: ${systemErrorText(e)}`));
  });
  process.stderr.on('error', () => {});
}
