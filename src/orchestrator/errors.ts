/** Turns a helper's failure report into the typed error the public API promises. */
import { errnoText } from '../errno.js';
import { CheckpointError, PermissionError, PidInUseError, RestoreError, UcrError } from '../errors.js';
import { HelperError } from '../kernel/helper.js';
import { signalName } from '../signals.js';
import { restorePrivilegeHint } from './trust.js';

const EPERM = 1;
const EEXIST = 17;

export function fromHelper(e: unknown, side: 'checkpoint' | 'restart', pid: number): unknown {
  if (!(e instanceof HelperError)) return e;
  const f = e.failure;
  const details = { pid, phase: f.phase, object: f.object, errno: f.errno || undefined, syscall: f.syscall || undefined, cause: e };
  // the object is left out when the reason already names it ("pid 42 is in use")
  const named = f.msg.includes(f.object) || f.msg.includes(f.object.replace(/^pid /, 'task '));
  const object = f.object && !named ? f.object + ': ' : '';
  // numbers of the helper's words by name: "signal 10" -> SIGUSR1
  const where = `process ${pid}: ${f.phase}: ${object}${f.msg.replace(/\bsignal (\d+)\b/g, (_, n: string) => signalName(Number(n)))}`;
  // (PTRACE_SETOPTIONS: a task under seccomp, which needs more than ptrace: its own line)
  if (f.errno === EPERM && f.phase === 'freeze' && f.syscall !== 'PTRACE_SETOPTIONS')
    return new PermissionError(`process ${pid}: permission denied (the caller may not ptrace it)`, details);
  if (f.phase === 'create' && f.errno === EEXIST) return new PidInUseError(where, details);
  const msg = `${where}${f.errno ? `: ${errnoText(f.errno)}` : ''}`;
  // a restart without the privilege it needs: say which, and how to get it
  const hint = side === 'restart' && f.errno === EPERM ? restorePrivilegeHint() : undefined;
  if (hint) return new PermissionError(`${msg}; ${hint}`, details);
  if (f.phase === 'restore-pages' || f.phase === 'verify') return new RestoreError(msg, { ...details, code: 'EIMAGE' });
  return side === 'checkpoint' ? new CheckpointError(msg, details) : new RestoreError(msg, details);
}

/** A /proc read about a task that died meanwhile (ENOENT or ESRCH on /proc/PID/...) becomes
 * one clear error naming the task; anything else is returned as it is. */
export function fromVanished(e: unknown): unknown {
  const x = e as NodeJS.ErrnoException;
  if (e instanceof UcrError || !(e instanceof Error) || (x.code !== 'ENOENT' && x.code !== 'ESRCH' && x.code !== 'EIO')) return e;
  const m = /^\/proc\/(\d+)\//.exec(x.path ?? '');
  if (!m) return e;
  return new CheckpointError(`process ${m[1]}: exited during the checkpoint`, { pid: Number(m[1]), code: 'ESRCH', cause: e });
}
