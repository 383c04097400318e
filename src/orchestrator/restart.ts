/**
 * The restart coordinator. Phases:
 *   read-metadata  prelude, HEADER, TREE, TASK records read and validated (nothing exists yet)
 *   check          host compatibility, mapped and open files, pids
 *   create         the helper clones the task at its pid (waiting for a zombie to release it)
 *   memory         address space rebuilt and page records streamed in by the helper
 *   verify         trailer checked here against the helper's record count, bytes and digest
 *   finish         after "commit": the task gets its last state and runs
 * Until "commit" nothing restored has run its own code; any failure before it kills the task
 * (the helper traces it with PTRACE_O_EXITKILL, so even a dead coordinator leaves nothing).
 */
import fs from 'node:fs';
import { PidInUseError, UcrError, UnsupportedError } from '../errors.js';
import { PhaseClock, type PhaseRecord, type UcrEmitter } from '../events.js';
import { PAGE_SIZE } from '../image/format.js';
import { checkTrailerBytes, readMetadata } from '../image/reader.js';
import type { ImageMetadata } from '../image/types.js';
import { opsOf } from '../kernel/fds/registry.js';
import { Helper } from '../kernel/helper.js';
import { checkMappedFiles } from '../kernel/memory.js';
import { pidState, readStat } from '../kernel/proc.js';
import { planLines } from '../kernel/restore-plan.js';
import { silentLogger, type Logger } from '../log.js';
import { fromHelper } from './errors.js';
import { checkHost } from './host.js';

export interface RestartOptions {
  /** A path, '-' for stdin, or an open fd. */
  input: string | number;
  /** Return once the task runs (default false: wait for it and report its exit). */
  detach?: boolean;
  /** How long to wait for a pid still held by a zombie (default 5000 ms). */
  pidWaitMs?: number;
  /** Restart even if kernel or CPU differ from the image's. */
  force?: boolean;
  /** fds that external stdio (0, 1, 2) of the image connects to (default: this process's). */
  stdio?: [number, number, number];
  events?: UcrEmitter;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface RestartResult {
  root: number;
  /** old pid → new pid */
  pids: Record<number, number>;
  tasks: number;
  pageBytes: number;
  phases: PhaseRecord[];
  warnings: string[];
  /** Without detach: how the root ended. */
  exitCode?: number;
  exitSignal?: number;
}

function openInput(input: string | number): { fd: number; name: string; close(): void } {
  if (typeof input === 'number') return { fd: input, name: `fd ${input}`, close() {} };
  if (input === '-') return { fd: 0, name: 'stdin', close() {} };
  try {
    const fd = fs.openSync(input, 'r');
    return { fd, name: input, close: () => fs.closeSync(fd) };
  } catch (e) {
    throw new UcrError(`image ${input}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
      code: (e as NodeJS.ErrnoException).code,
      object: input,
    });
  }
}

/**
 * Every pid of the image must be free, or held by a zombie (the helper waits for those, up to
 * --pid-wait). A live holder is an error at once, except when the image arrives through a pipe
 * or socket: the producer may be `ucr checkpoint --kill` of that very process, which kills it
 * only after the trailer. Then the helper spools the image first (returns true) and waits for
 * the pid like for a zombie.
 */
function checkPids(meta: ImageMetadata, streamed: boolean): boolean {
  let spool = false;
  for (const t of meta.tree.tasks) {
    const st = pidState(t.pid);
    if (st === undefined || st === 'Z') continue;
    if (streamed) {
      spool = true;
      continue;
    }
    let who = '';
    try {
      who = ` by ${readStat(t.pid).comm}`;
    } catch {
      /* gone meanwhile */
    }
    throw new PidInUseError(`pid ${t.pid} is in use${who}`, { pid: t.pid, phase: 'check' });
  }
  return spool;
}

export async function restart(opts: RestartOptions): Promise<RestartResult> {
  const log = (opts.logger ?? silentLogger).child({ module: 'restart' });
  const clock = new PhaseClock(opts.events);
  opts.signal?.throwIfAborted();
  const input = openInput(opts.input);
  let helper: Helper | undefined;
  let nullFd: number | undefined;
  let rootPid = 0;
  try {
    const { meta } = await clock.run('read-metadata', () => readMetadata(input.fd, input.name));
    if (meta.tasks.length !== 1) throw new UnsupportedError(`${input.name}: images of process trees are not supported yet`);
    const task = meta.tasks[0]!;
    rootPid = task.pid;
    const entry = meta.tree.tasks[0]!;
    if (entry.threads !== 1 || entry.state !== 'running')
      throw new UnsupportedError(`${input.name}: process ${task.pid} is ${entry.state} with ${entry.threads} threads: not supported yet`);
    const streamed = !fs.fstatSync(input.fd).isFile();
    let spool = false;
    const warnings = await clock.run('check', () => {
      const w = checkHost(meta.header, opts.force ?? false);
      checkMappedFiles(task.pid, task.vmas);
      for (const f of task.files) opsOf(f.kind).check(f);
      spool = checkPids(meta, streamed);
      return w;
    });
    for (const message of warnings) opts.events?.emit('warning', { message });

    let stdio = opts.stdio ?? [0, 1, 2];
    if (input.fd === stdio[0]) {
      nullFd = fs.openSync('/dev/null', 'r');
      stdio = [nullFd, stdio[1], stdio[2]];
    }
    const h = new Helper(['restore', ...(opts.detach ? ['--detach'] : [])], [input.fd, ...stdio]);
    helper = h;
    opts.signal?.addEventListener('abort', () => h.kill(), { once: true });
    const ctx = { stdioFd: (slot: number) => 4 + slot };
    h.send(...planLines(task, ctx, { pidWaitMs: opts.pidWaitMs ?? 5000, seed: meta.digest, taskIndex: 0 }), `spool ${spool ? 1 : 0}`, 'end');
    if (spool) await clock.run('spool', () => h.next('planned'));
    else await h.next('planned');
    const created = await clock.run('create', () => h.next('created'), task.pid);
    log.debug({ pid: created.pid }, 'created');
    const loaded = await clock.run('memory', () => h.next('loaded'), task.pid);
    const pageBytes = loaded.bytes as number;
    await clock.run('verify', () => {
      const expectBytes = task.pageRuns.reduce((s, [, n]) => s + n * PAGE_SIZE, 0);
      checkTrailerBytes(input.name, Buffer.from(loaded.trailer as string, 'hex'), {
        digest: loaded.digest as number,
        records: meta.records + (loaded.records as number),
        pageBytes: expectBytes,
      });
      if (pageBytes !== expectBytes) throw new UcrError(`${input.name}: corrupt image: page bytes ${pageBytes} != ${expectBytes}`, { code: 'EIMAGE' });
    });
    h.send('commit');
    await clock.run('finish', () => h.next('running'), task.pid);
    const result: RestartResult = {
      root: task.pid,
      pids: { [task.pid]: created.pid as number },
      tasks: 1,
      pageBytes,
      phases: clock.phases,
      warnings,
    };
    if (opts.detach) {
      await h.exited;
      return result;
    }
    const exit = await h.next('exit');
    await h.exited;
    return { ...result, exitCode: (exit.code as number) >= 0 ? (exit.code as number) : undefined, exitSignal: (exit.signal as number) || undefined };
  } catch (e) {
    if (helper) {
      helper.kill();
      await helper.exited;
    }
    if (opts.signal?.aborted) throw new UcrError('restart aborted', { code: 'ABORT_ERR', cause: e });
    throw fromHelper(e, 'restart', rootPid);
  } finally {
    input.close();
    if (nullFd !== undefined) fs.closeSync(nullFd);
  }
}
