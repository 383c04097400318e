/**
 * Errno values in messages: by name and in words ("operation not permitted (EPERM)"), never as a
 * bare number. The one place numbers from the kernel or the helper become text.
 */
import os from 'node:os';
import util from 'node:util';

let table: Map<number, [string, string]> | undefined;
/** errno -> [name, libuv's words], made at the first error (not at every command's start) */
function byNumber(): Map<number, [string, string]> {
  if (table) return table;
  table = new Map();
  for (const [n, v] of util.getSystemErrorMap()) if (n < 0) table.set(-n, v);
  for (const [name, n] of Object.entries(os.constants.errno)) if (!table.has(n)) table.set(n, [name, '']);
  return table;
}
/** Words where libuv has none, or where strerror's are clearer. */
const WORDS: Record<string, string> = {
  EISDIR: 'is a directory',
  ECHILD: 'no child process',
  EIDRM: 'identifier removed',
  ENOEXEC: 'not an executable format',
  ENOLCK: 'no locks available',
  ENOMSG: 'no message of the desired type',
  EDQUOT: 'disk quota exceeded',
  ESTALE: 'stale file handle',
  EBADMSG: 'bad message',
  EDEADLK: 'resource deadlock avoided',
  EINPROGRESS: 'operation in progress',
  ETIME: 'timer expired',
};

/** EPERM for 1 (also for -1); undefined for a number no name is known for. */
export function errnoName(n: number): string | undefined {
  return byNumber().get(Math.abs(n))?.[0];
}

/** "operation not permitted (EPERM)"; "errno 4095" for an unknown number. */
export function errnoText(n: number): string {
  const e = byNumber().get(Math.abs(n));
  if (!e) return `errno ${Math.abs(n)}`;
  const words = WORDS[e[0]] ?? e[1];
  return words ? `${words} (${e[0]})` : e[0];
}

/** A Node system error (fs, spawn...) in words with its name, without its message's syscall
 * and path (the caller names the object): "no such file or directory (ENOENT)". Other errors:
 * their message. */
export function systemErrorText(e: unknown): string {
  const x = e as NodeJS.ErrnoException;
  if (x && typeof x.code === 'string' && /^E[A-Z0-9]+$/.test(x.code)) {
    const n = typeof x.errno === 'number' ? x.errno : (os.constants.errno as Record<string, number>)[x.code];
    if (n !== undefined && errnoName(n) === x.code) return errnoText(n);
    return x.code;
  }
  return e instanceof Error ? e.message : String(e);
}
