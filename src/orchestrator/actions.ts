/**
 * Actions: hooks run at fixed points of a checkpoint or restart, like CRIU's action scripts.
 *   pre-dump      before anything is touched              failure: nothing happened
 *   post-dump     the image is complete, the tree frozen   failure: image removed, tree runs on
 *   pre-restore   the image checked, nothing created yet   failure: nothing happened
 *   post-restore  every task restored, none running yet    failure: every task killed
 *   post-resume   every task runs                          failure: reported only (too late)
 * A hook is a function, or a script run with UCR_ACTION, UCR_PID (the root's pid), UCR_PIDS
 * (every task, space-separated; after a restart its current pids), UCR_IMAGE (path or '-') and,
 * for compatibility with CRIU scripts, CRTOOLS_SCRIPT_ACTION and CRTOOLS_INIT_PID.
 */
import { childProcess } from '../child-process.js';
import { ActionError } from '../errors.js';
import { systemErrorText } from '../errno.js';
import type { PhaseClock } from '../events.js';

export type ActionName = 'pre-dump' | 'post-dump' | 'pre-restore' | 'post-restore' | 'post-resume';

export interface ActionContext {
  action: ActionName;
  /** the root task: its pid in the image, or after a restart as this process sees it */
  pid: number;
  /** every task (current pids after a restart) */
  pids: number[];
  /** the image: a path, '-' for stdin/stdout, or 'fd N' */
  image: string;
  /** the operation's AbortSignal: a hook should give up when it fires */
  signal?: AbortSignal;
}

/** Throw (or reject) to abandon the operation. */
export type ActionHook = (ctx: ActionContext) => void | Promise<void>;

/** A hook that runs an executable with the action in its environment; non-zero exit fails. */
export function scriptHook(script: string): ActionHook {
  return (ctx) =>
    new Promise<void>((resolve, reject) => {
      const env = {
        ...process.env,
        UCR_ACTION: ctx.action,
        UCR_PID: String(ctx.pid),
        UCR_PIDS: ctx.pids.join(' '),
        UCR_IMAGE: ctx.image,
        CRTOOLS_SCRIPT_ACTION: ctx.action,
        CRTOOLS_INIT_PID: String(ctx.pid),
      };
      // its stdout goes to our stderr: our stdout may be the image stream
      const p = childProcess().spawn(script, [ctx.action], { env, stdio: ['ignore', 2, 2] });
      const onAbort = () => p.kill('SIGTERM');
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      p.on('close', () => ctx.signal?.removeEventListener('abort', onAbort));
      p.on('error', (e) => reject(new ActionError(`action script ${script}: cannot run it: ${systemErrorText(e)}`, { object: script, phase: ctx.action })));
      p.on('close', (code, signal) => {
        if (code === 0) resolve();
        else
          reject(
            new ActionError(`action script ${script} failed at ${ctx.action} (${signal ? `killed by ${signal}` : `exit status ${code}`})`, {
              object: script,
              phase: ctx.action,
              pid: ctx.pid,
            }),
          );
      });
    });
}

export function actionHook(a: string | ActionHook | undefined): ActionHook | undefined {
  return typeof a === 'string' ? scriptHook(a) : a;
}

/** Runs the hook (if any) as an 'action' phase; errors become ActionError. */
export async function runAction(clock: PhaseClock, hook: ActionHook | undefined, ctx: ActionContext): Promise<void> {
  if (!hook) return;
  await clock.run(
    'action',
    async () => {
      try {
        await hook(ctx);
      } catch (e) {
        if (e instanceof ActionError) throw e;
        throw new ActionError(`action ${ctx.action} failed: ${e instanceof Error ? e.message : String(e)}`, { phase: ctx.action, pid: ctx.pid, cause: e });
      }
    },
    undefined,
    ctx.action,
  );
}
