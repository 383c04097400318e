/**
 * The checkpoint coordinator: validates the target, freezes it through the helper, captures
 * its state, writes the image (metadata, then the helper's page records, then the trailer), and
 * lets the task run on (or kills it once the image is complete). Any failure releases the task
 * exactly as it was and removes a partial output file.
 */
import fs from 'node:fs';
import { PermissionError, UcrError, UnsupportedError } from '../errors.js';
import { PhaseClock, type PhaseRecord, type UcrEmitter } from '../events.js';
import { ImageWriter } from '../image/writer.js';
import { captureTask } from '../kernel/dump-task.js';
import { Helper } from '../kernel/helper.js';
import { listChildren, pidState } from '../kernel/proc.js';
import { silentLogger, type Logger } from '../log.js';
import { VERSION } from '../version.js';
import { fromHelper } from './errors.js';
import { hostIdentity } from './host.js';

export interface CheckpointOptions {
  /** A path (created 0600, appearing only when complete), '-' for stdout, or an open fd. */
  output: string | number;
  /** Kill the task once the image is complete (default false: it runs on). */
  kill?: boolean;
  events?: UcrEmitter;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface CheckpointResult {
  pid: number;
  tasks: number;
  /** bytes of the whole image / of page data */
  bytes: number;
  pageBytes: number;
  killed: boolean;
  phases: PhaseRecord[];
}

/** Returns the task's state letter before ucr touched it. */
function checkTarget(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) throw new UcrError(`invalid pid ${pid}`, { code: 'EINVAL' });
  const state = pidState(pid);
  if (state === undefined) throw new UcrError(`process ${pid} does not exist`, { code: 'ESRCH', pid });
  if (pid === process.pid) throw new UcrError(`process ${pid} is ucr itself`, { code: 'EINVAL', pid });
  if (state === 'Z') throw new UcrError(`process ${pid} is a zombie`, { code: 'ESRCH', pid });
  try {
    fs.readlinkSync(`/proc/${pid}/exe`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM')
      throw new PermissionError(`process ${pid}: permission denied (the caller may not ptrace it)`, { pid, phase: 'check' });
    throw new UcrError(`process ${pid} is a kernel thread`, { code: 'EINVAL', pid });
  }
  const kids = listChildren(pid);
  if (kids.length)
    throw new UnsupportedError(`process ${pid} has children (${kids.slice(0, 5).join(', ')}): process trees are not supported yet`, {
      pid,
      phase: 'tree',
    });
  if (state === 'T' || state === 't')
    throw new UnsupportedError(`process ${pid} is stopped (${state === 'T' ? 'by a signal' : 'by a tracer'}): not supported yet`, { pid });
  return state;
}

interface Output {
  fd: number;
  commit(): void;
  abandon(): void;
}

function openOutput(out: string | number): Output {
  if (typeof out === 'number') return { fd: out, commit() {}, abandon() {} };
  if (out === '-') return { fd: 1, commit() {}, abandon() {} };
  const tmp = `${out}.partial-${process.pid}`;
  let fd: number;
  try {
    fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (e) {
    throw new UcrError(`output ${out}: ${(e as Error).message}`, { code: (e as NodeJS.ErrnoException).code, object: out });
  }
  fs.fchmodSync(fd, 0o600);
  return {
    fd,
    commit() {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, out);
    },
    abandon() {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
      fs.rmSync(tmp, { force: true });
    },
  };
}

export async function checkpoint(pid: number, opts: CheckpointOptions): Promise<CheckpointResult> {
  const log = (opts.logger ?? silentLogger).child({ module: 'checkpoint', pid });
  const clock = new PhaseClock(opts.events);
  opts.signal?.throwIfAborted();
  const stateBefore = checkTarget(pid);
  const out = openOutput(opts.output);
  const helper = new Helper(['dump', String(pid)], [out.fd]);
  const onAbort = () => helper.close();
  opts.signal?.addEventListener('abort', onAbort);
  try {
    const frozen = await clock.run('freeze', () => helper.next('frozen'), pid);
    const threads = frozen.threads as number[];
    if (threads.length > 1)
      throw new UnsupportedError(`process ${pid} has ${threads.length} threads: multi-threaded processes are not supported yet`, {
        pid,
        phase: 'freeze',
      });
    const { task, entry } = await clock.run('capture', () => captureTask(helper, pid, stateBefore), pid);
    log.debug({ vmas: task.vmas.length, runs: task.pageRuns.length, fds: task.fds.length }, 'captured');
    opts.signal?.throwIfAborted();
    const w = new ImageWriter(out.fd);
    const host = hostIdentity(task.xstate.length);
    await clock.run('write-metadata', () => {
      w.prelude();
      w.header({
        arch: 'x86_64',
        pageSize: 4096,
        kernel: host.kernel,
        cpu: host.cpu,
        createdAt: new Date().toISOString(),
        tool: `ucr ${VERSION}`,
        owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
        root: pid,
      });
      w.tree({ tasks: [entry] });
      w.task(task);
    });
    const pageBytes = await clock.run(
      'write-pages',
      async () => {
        helper.send(`pages 0 ${w.digest}`, ...task.pageRuns.map(([a, n]) => `run ${a} ${n}`), 'end');
        const ev = await helper.next('pages');
        w.addPages(ev.records as number, ev.bytes as number, ev.digest as number);
        return ev.bytes as number;
      },
      pid,
    );
    w.trailer(pageBytes);
    out.commit();
    const kill = opts.kill ?? false;
    await clock.run(kill ? 'kill' : 'resume', async () => {
      helper.send(kill ? 'kill' : 'release');
      await helper.next(kill ? 'killed' : 'released');
      await helper.exited;
    });
    return { pid, tasks: 1, bytes: w.bytes, pageBytes, killed: kill, phases: clock.phases };
  } catch (e) {
    helper.close(); // EOF: the helper puts the task back as it was and detaches
    await helper.exited;
    out.abandon();
    if (opts.signal?.aborted) throw new UcrError(`checkpoint of process ${pid} aborted`, { code: 'ABORT_ERR', pid, cause: e });
    throw fromHelper(e, 'checkpoint', pid);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
