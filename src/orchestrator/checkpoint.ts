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
import type { TaskImage, TreeEntry } from '../image/types.js';
import { captureTask } from '../kernel/dump-task.js';
import { captureObjects, dumpObjects } from '../kernel/objects.js';
import { captureFiles } from '../kernel/files.js';
import { captureIpc, writeShmData } from '../kernel/ipc.js';
import { Helper } from '../kernel/helper.js';
import { listChildren, listThreads, pidState, readStat } from '../kernel/proc.js';
import { silentLogger, type Logger } from '../log.js';
import { VERSION } from '../version.js';
import { fromHelper } from './errors.js';
import { hostIdentity } from './host.js';

export interface CheckpointOptions {
  /** A path (created 0600, appearing only when complete), '-' for stdout, or an open fd. */
  output: string | number;
  /** Kill the tree once the image is complete (default false: it runs on). */
  kill?: boolean;
  /** Checkpoint even when an object of the tree is also held outside it (then recorded as leaked). */
  allowLeaks?: boolean;
  /** Instead of the tree under pid: every process of this session (pid is then ignored). */
  session?: number;
  /** Instead of the tree under pid: every process of this process group. */
  pgid?: number;
  /** A unix socket whose peer is held outside the tree: 'refuse' (default) names the outside
   * process; 'close' restores the socket with its peer gone (reads get the queued bytes, then
   * EOF). Recorded in the image. */
  externalUnix?: 'refuse' | 'close';
  /** Object kinds left out: 'sockets' are recorded as closed (the restarted program finds
   * those fds closed). */
  skip?: 'sockets'[];
  /** How long to wait for a task inside vfork() until its child execs or exits (default 5000). */
  vforkWaitMs?: number;
  events?: UcrEmitter;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface CheckpointResult {
  pid: number;
  /** every task saved, root first */
  pids: number[];
  tasks: number;
  warnings: string[];
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
  if (state === 'Z' && listThreads(pid).length === 1) throw new UcrError(`process ${pid} is a zombie`, { code: 'ESRCH', pid });
  try {
    fs.readlinkSync(`/proc/${listThreads(pid).find((t) => pidState(t) !== 'Z') ?? pid}/exe`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM')
      throw new PermissionError(`process ${pid}: permission denied (the caller may not ptrace it)`, { pid, phase: 'check' });
    throw new UcrError(`process ${pid} is a kernel thread`, { code: 'EINVAL', pid });
  }
  if (state === 't') throw new UnsupportedError(`process ${pid} is being traced by another process`, { pid });
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

/**
 * Freezes the tree top-down: a task is frozen before its children are listed, so a child forked
 * meanwhile is found, and a frozen task forks no more. Zombies are recorded, not frozen.
 */
/** A parent inside vfork() shares its memory with the child until the child execs or exits. */
function inVfork(pid: number): boolean {
  try {
    return /vfork/.test(fs.readFileSync(`/proc/${pid}/stack`, 'latin1'));
  } catch {
    try {
      return fs.readFileSync(`/proc/${pid}/wchan`, 'latin1') === 'kernel_clone' && pidState(pid) === 'D';
    } catch {
      return false;
    }
  }
}

async function waitVfork(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (inVfork(pid)) {
    if (Date.now() >= deadline)
      throw new UnsupportedError(
        `process ${pid} is waiting in vfork() for its child ${listChildren(pid).join(', ') || '?'}, which did not exec or exit within ${ms} ms`,
        { pid, phase: 'freeze' },
      );
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function freezeTree(
  helper: Helper,
  roots: number[],
  member: (pid: number) => boolean,
  clock: PhaseClock,
  vforkWaitMs: number,
): Promise<{ pid: number; state: string }[]> {
  const order: { pid: number; state: string }[] = [];
  const queue: { pid: number; state: string | undefined }[] = roots.map((pid) => ({ pid, state: undefined }));
  while (queue.length) {
    const { pid, state: known } = queue.shift()!;
    let state = known ?? pidState(pid);
    if (state === undefined) continue; // exited and reaped before we got to it
    if (state === 'Z' && listThreads(pid).length > 1) state = 'R'; // main thread gone, others run
    order.push({ pid, state });
    if (state === 'Z') continue;
    if (state === 't') throw new UnsupportedError(`process ${pid} is being traced by another process`, { pid, phase: 'freeze' });
    await waitVfork(pid, vforkWaitMs);
    helper.send(`freeze ${pid}`);
    const ev = await clock.run('freeze', () => helper.next('frozen'), pid);
    void ev;
    for (const c of listChildren(pid).sort((a, b) => a - b)) if (member(c) && !order.some((o) => o.pid === c)) queue.push({ pid: c, state: undefined });
  }
  return order;
}

interface Selection {
  root: number;
  /** where freezing starts: the root, then members whose parent is not a member */
  roots: number[];
  member: (pid: number) => boolean;
}

/** The tree under pid, or every process of a session or group (orphans included). */
function select(pid: number, opts: CheckpointOptions): Selection {
  if (opts.session === undefined && opts.pgid === undefined) {
    checkTarget(pid);
    return { root: pid, roots: [pid], member: () => true };
  }
  const bySession = opts.session !== undefined;
  const id = (bySession ? opts.session : opts.pgid)!;
  const what = bySession ? `session ${id}` : `process group ${id}`;
  const stats = new Map<number, ReturnType<typeof readStat>>();
  for (const name of fs.readdirSync('/proc')) {
    const p = Number(name);
    if (!p || p === process.pid) continue;
    try {
      const st = readStat(p);
      if ((bySession ? st.sid : st.pgid) === id) stats.set(p, st);
    } catch {
      /* gone */
    }
  }
  if (!stats.size) throw new UcrError(`${what} has no processes`, { code: 'ESRCH' });
  const leader = stats.get(id);
  const members = [...stats.keys()].sort((a, b) => a - b);
  const root = leader && leader.state !== 'Z' ? id : members.find((p) => stats.get(p)!.state !== 'Z');
  if (root === undefined) throw new UcrError(`${what} has only zombies`, { code: 'ESRCH' });
  checkTarget(root);
  const member = (p: number) => {
    try {
      const st = readStat(p);
      return (bySession ? st.sid : st.pgid) === id;
    } catch {
      return false;
    }
  };
  const others = members.filter((p) => p !== root && !stats.has(stats.get(p)!.ppid));
  return { root, roots: [root, ...others], member };
}

export async function checkpoint(pid: number, opts: CheckpointOptions): Promise<CheckpointResult> {
  const log = (opts.logger ?? silentLogger).child({ module: 'checkpoint', pid });
  const clock = new PhaseClock(opts.events);
  opts.signal?.throwIfAborted();
  const sel = select(pid, opts);
  pid = sel.root;
  const out = openOutput(opts.output);
  const helper = new Helper(['dump'], [out.fd]);
  const onAbort = () => helper.close();
  opts.signal?.addEventListener('abort', onAbort);
  try {
    const order = await freezeTree(helper, sel.roots, sel.member, clock, opts.vforkWaitMs ?? 5000);
    const entries: TreeEntry[] = [];
    const tasks: TaskImage[] = [];
    const procPids = new Map<number, number>();
    for (const { pid: p, state } of order) {
      if (state === 'Z') {
        const st = readStat(p);
        entries.push({ pid: p, ppid: st.ppid, pgid: st.pgid, sid: st.sid, comm: st.comm, state: 'zombie', threads: 1, exitStatus: st.exitCode });
        continue;
      }
      const { task, entry, procPid } = await clock.run('capture', () => captureTask(helper, p, state), p);
      procPids.set(p, procPid);
      entries.push(entry);
      tasks.push(task);
    }
    const captured = await clock.run('files', () =>
      captureFiles(
        tasks.map((t) => procPids.get(t.pid)!),
        helper,
        {
          root: procPids.get(pid)!,
          ignore: new Set([process.pid, helper.pid ?? 0]),
          allowLeaks: opts.allowLeaks ?? false,
          externalUnix: opts.externalUnix,
          skipSockets: opts.skip?.includes('sockets'),
        },
      ),
    );
    for (const t of tasks) t.fds = captured.fds.get(procPids.get(t.pid)!) ?? [];
    const objects = await clock.run('objects', () => captureObjects(helper, tasks, procPids, captured.files.files, captured.objectPaths));
    if (objects.objects.length) captured.files.objects = objects.objects;
    const ipc = await clock.run('ipc', () => captureIpc(helper, tasks, (p) => procPids.get(p)!));
    for (const message of captured.warnings) opts.events?.emit('warning', { message, pid });
    log.debug({ tasks: entries.length, files: captured.files.files.length }, 'captured');
    opts.signal?.throwIfAborted();
    const w = new ImageWriter(out.fd);
    const host = hostIdentity(tasks[0]!.xstate.length);
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
      w.tree({ tasks: entries });
      w.files(captured.files);
      w.ipc(ipc.ipc);
      for (const t of tasks) w.task(t);
    });
    let pageBytes = 0;
    await clock.run('write-pages', async () => {
      const sh = await dumpObjects(helper, objects, w.digest);
      w.addPages(sh.records, sh.bytes, sh.digest);
      pageBytes += sh.bytes;
      for (const [i, t] of tasks.entries()) {
        helper.send(`pages ${t.pid} ${i} ${w.digest}`, ...t.pageRuns.map(([a, n]) => `run ${a} ${n}`), 'end');
        const ev = await helper.next('pages');
        w.addPages(ev.records as number, ev.bytes as number, ev.digest as number);
        pageBytes += ev.bytes as number;
      }
    });
    const shm = await clock.run('write-shm', async () => {
      const r = await writeShmData(helper, ipc, w.digest);
      w.addPages(r.records, r.bytes, r.digest);
      return r;
    });
    w.trailer(pageBytes + shm.bytes);
    out.commit();
    const kill = opts.kill ?? false;
    await clock.run(kill ? 'kill' : 'resume', async () => {
      helper.send(kill ? 'kill' : 'release');
      await helper.next(kill ? 'killed' : 'released');
      await helper.exited;
    });
    return {
      pid,
      pids: entries.map((e) => e.pid),
      tasks: entries.length,
      warnings: captured.warnings,
      bytes: w.bytes,
      pageBytes,
      killed: kill,
      phases: clock.phases,
    };
  } catch (e) {
    helper.close(); // EOF: the helper puts every task back as it was and detaches
    await helper.exited;
    out.abandon();
    if (opts.signal?.aborted) throw new UcrError(`checkpoint of process ${pid} aborted`, { code: 'ABORT_ERR', pid, cause: e });
    throw fromHelper(e, 'checkpoint', pid);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
