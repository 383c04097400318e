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
import os from 'node:os';
import { AbortedError, PidInUseError, UcrError } from '../errors.js';
import { PhaseClock, phaseDurations, type PhaseRecord, type UcrEmitter } from '../events.js';
import { faultPoint } from '../fault.js';
import { ackBytes, PAGE_SIZE } from '../image/format.js';
import { writeAll } from '../image/fdio.js';
import { openImage } from '../image/open.js';
import { readMetadataAsync } from '../image/reader.js';
import { otherVmas, runPages } from '../image/packed-task.js';
import type { Trailer } from '../image/types.js';
import { opsOf } from '../kernel/fds/registry.js';
import { Helper } from '../kernel/helper.js';
import { type EvFinished, type EvMapped, restoreCommit, restoreEof, restoreFinish, restoreMap, restorePages, restoreResume } from '../kernel/protocol.gen.js';
import { checkAffinity } from '../kernel/affinity.js';
import { checkIpcFree } from '../kernel/ipc.js';
import { checkMappedFiles } from '../kernel/memory.js';
import { pidState, readStat } from '../kernel/proc.js';
import type { TimerPolicy } from '../kernel/timers.js';
import { checkLoaded, loadedOf, planLines, planRestart, type SkipMemory } from './restart-plan.js';
import { checkTmpfsObjects } from '../kernel/objects.js';
import { silentLogger, type Logger } from '../log.js';
import { actionHook, runAction, type ActionHook } from './actions.js';
import { fromHelper } from './errors.js';
import { notify, NOTIFY_RESTARTED } from './notify.js';
import { signalNumber } from '../signals.js';
import { checkHost } from './host.js';
import { leanHeap } from '../heap.js';
import { checkCallerMayRestore, checkImageSource, checkWithinOwner, type ImageTrust } from './trust.js';
import { yieldUnderRealtime } from '../native/addon.js';
import { interruptSeen, signalsSeen, untilAborted } from './signals-seen.js';

export type { SkipMemory };

export interface RestartOptions {
  /** A path, '-' for stdin, or an open fd. */
  input: string | number;
  /** Return once every task runs; otherwise wait for the root and report how it ended.
   * @default false */
  detach?: boolean;
  /** How long to wait for a pid still held by a zombie, in ms. @default 5000 */
  pidWaitMs?: number;
  /** Restart even if kernel or CPU differ from the image's. @default false */
  force?: boolean;
  /** Vouch for the image source: restore what it records even if other users could write it or
   * it is not root's (root's restart otherwise restores at most the credentials of the file's
   * owner; see docs/security.md). An input of '-' or an fd is always vouched for by the caller.
   * @default false */
  trustImage?: boolean;
  /** fds that external stdio (0, 1, 2) of the image connects to. @default [0, 1, 2] (this
   * process's own; stdin becomes /dev/null when the image itself comes from it) */
  stdio?: [number, number, number];
  /** New pids: old → new for some tasks (the rest keep theirs), or 'auto' for any free pids.
   * @default the image's pids */
  pids?: Map<number, number> | 'auto';
  /** Restart in a new pid namespace, under ucr's init (pid 1 there), at the pids inside it.
   * @default false */
  pidns?: boolean;
  /** How timers resume (see src/kernel/timers.ts). @default 'relative' */
  timers?: TimerPolicy;
  /** 'size': refuse a regular file open for writing whose size changed since the checkpoint,
   * or an offset beyond a file's end; 'off': reopen whatever is there. @default 'size' */
  fileValidation?: 'size' | 'off';
  /** Every TCP connection comes back closed (CLOSE: EOF, EPIPE), its queues dropped, whatever
   * its peer (CRIU's --tcp-close). @default false */
  tcpClose?: boolean;
  /** Memory ranges restored zero-filled instead of from the image (for programs that rebuild
   * that state, e.g. a cache): the tasks' private pages there are not written. pid: only that
   * task of the image (default: every task). Mappings are kept; shared memory is not affected. */
  skipMemory?: SkipMemory[];
  /** Restart in a new IPC namespace: System V objects come back at their ids whatever the
   * caller's namespace holds (default: when the tree had a namespace of its own). */
  ipcns?: boolean;
  /** What not to restore: 'ipc' = no System V object is recreated in the namespace (attached
   * segments come back as private segments already marked for destruction; see kernel/ipc.ts). */
  skip?: 'ipc'[];
  /** How many tasks are restored at once, each by its own tracer. @default two per CPU for up
   * to 256 tasks (a tracer waits for its task half the time), the CPU count above (every tracer
   * is a fork of the helper, with the whole plan) */
  parallel?: number;
  /** A script (path) or function run at 'pre-restore', 'post-restore' (a failure kills every
   * task: nothing is left) and 'post-resume' (see actions.ts). @default none */
  actionScript?: string | ActionHook;
  /** Signal (name or number) queued with si_value 2 to every restored task that has a handler
   * for it, once all run (see notify.ts). @default none */
  notifySignal?: string | number;
  /** Phase, progress and warning events. */
  events?: UcrEmitter;
  /** pino logger (structured logs). @default silent */
  logger?: Logger;
  /** Aborting before the tasks run kills every task created so far: nothing is left. */
  signal?: AbortSignal;
  /** Keep this process's V8 young generation at 4 MiB semi-spaces while the restart runs, as
   * the CLI does (heap.ts; V8's flags are the process's). @default false */
  leanHeap?: boolean;
  /** Acknowledge the image on this fd once it is here whole and verified (every record's
   * checksum, the digest chain, the trailer), before anything runs: for a checkpoint with
   * killAfterAck, which then kills its tree (format in image/format.ts). A failed write fails
   * the restart (the checkpoint keeps its tree). @default none */
  ackFd?: number;
}

/** Sends the acknowledgement of the image whose trailer is t (opts.ackFd). */
function acknowledge(opts: RestartOptions, t: Trailer): void {
  if (opts.ackFd === undefined) return;
  try {
    writeAll(opts.ackFd, ackBytes(t));
  } catch (e) {
    throw new UcrError(`--ack-fd ${opts.ackFd}: cannot acknowledge the image (${(e as Error).message}): the checkpoint keeps its tree, so this restart stops`, {
      code: (e as NodeJS.ErrnoException).code,
    });
  }
}

export interface RestartResult {
  root: number;
  /** old pid → new pid, for every task of the image (inside the new namespace with pidns) */
  pids: Record<number, number>;
  /** old pid → the pid as this process sees it (differs from pids only with pidns) */
  hostPids: Record<number, number>;
  tasks: number;
  pageBytes: number;
  /** every phase as it ran (per task where it runs per task), ms since the start */
  phases: PhaseRecord[];
  /** total ms per phase name */
  durations: Record<string, number>;
  warnings: string[];
  /** tasks notified with notifySignal (current pids) */
  notified: number[];
  /** Without detach: how the root ended. */
  exitCode?: number;
  exitSignal?: number;
  /** Without detach: the wait for the root was aborted (opts.signal; the CLI's SIGINT or
   * SIGTERM) after the tree was resumed: it runs on, exitCode and exitSignal are not set. */
  stoppedWaiting?: boolean;
}

/**
 * Every pid of the image must be free, or held by a zombie (the helper waits for those, up to
 * --pid-wait). A live holder is an error at once, except when the image arrives through a pipe
 * or socket: the producer may be `ucr checkpoint --kill` of that very process, which kills it
 * only after the trailer. Then the helper spools the image first (returns true) and waits for
 * the pid like for a zombie.
 */
function checkPids(wanted: number[], streamed: boolean): boolean {
  let spool = false;
  for (const pid of wanted) {
    const st = pidState(pid);
    if (st === undefined || st === 'Z') continue;
    if (streamed) {
      spool = true;
      continue;
    }
    let who = '';
    try {
      who = ` by ${readStat(pid).comm}`;
    } catch {
      /* gone meanwhile */
    }
    throw new PidInUseError(`pid ${pid} is in use${who}`, { pid, phase: 'check' });
  }
  return spool;
}

export async function restart(opts: RestartOptions): Promise<RestartResult> {
  yieldUnderRealtime(); // under chrt -f: before the first turn of the event loop
  const log = (opts.logger ?? silentLogger).child({ module: 'restart' });
  const clock = new PhaseClock('restart', opts.events, log);
  const aborted = () => new AbortedError('restart aborted: no process was left', { cause: opts.signal?.reason });
  if (opts.signal?.aborted) throw aborted();
  const sig = opts.notifySignal === undefined ? undefined : signalNumber(opts.notifySignal);
  if (opts.notifySignal !== undefined && sig === undefined) throw new UcrError(`notify signal ${opts.notifySignal}: no such signal`, { code: 'EINVAL' });
  const hook = actionHook(opts.actionScript);
  const input = openImage(opts.input);
  let helper: Helper | undefined;
  let nullFd: number | undefined;
  let rootPid = 0;
  let resumed = false;
  // graceful first: on EOF the helper kills and reaps every task it created
  const onAbort = () => {
    helper?.close();
    setTimeout(() => helper?.kill(), 2000).unref();
  };
  const endLean = opts.leanHeap ? leanHeap(false) : undefined;
  try {
    // The helper starts (exec, loading) while the metadata is read; it waits for its plan.
    let stdio = opts.stdio ?? [0, 1, 2];
    if (input.fd === stdio[0]) {
      nullFd = fs.openSync('/dev/null', 'r');
      stdio = [nullFd, stdio[1], stdio[2]];
    }
    const h = new Helper(['restore', ...(opts.detach ? ['--detach'] : [])], [input.fd, ...stdio]);
    helper = h;
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const { meta } = await clock.run('read-metadata', () => readMetadataAsync(input.fd, input.name));
    const root = meta.tree.tasks[0]!;
    rootPid = root.pid;
    const plan = planRestart(meta, opts);
    const { tree, ipc: ipcOpts } = plan;
    const streamed = !fs.fstatSync(input.fd).isFile();
    let spool = false;
    let trust: ImageTrust = { full: false };
    const warnings = await clock.run('check', () => {
      trust = checkImageSource(input.fd, input.name, { vouched: typeof opts.input === 'number' || opts.input === '-', trustImage: opts.trustImage ?? false });
      if (trust.owner !== undefined) checkWithinOwner(meta, trust.owner, input.name);
      checkCallerMayRestore(meta);
      const w = checkHost(meta.header, opts.force ?? false);
      const stats = new Map();
      for (const t of meta.tasks) checkMappedFiles(t.pid, otherVmas(t), stats); // packed ones map no file
      checkTmpfsObjects(meta.files.objects);
      const tmpfsFiles = new Set((meta.files.objects ?? []).filter((o) => o.kind === 'tmpfs').map((o) => o.name!));
      for (const f of meta.files.files) opsOf(f.kind).check(f, { fileValidation: opts.fileValidation ?? 'size', tmpfsFiles });
      checkIpcFree(meta.ipc, ipcOpts);
      w.push(...checkAffinity(meta.tasks), ...plan.cgroups.warnings);
      for (const f of meta.files.files) if (f.leak) w.push(`file ${f.path} was also held by process ${f.leak.pid} (${f.leak.comm}) at checkpoint: it is not shared with it now`);
      // in a new pid namespace every pid is free
      // (threads come back at their own tids: those must be free as well)
      const threadsOf = new Map(meta.tasks.map((t) => [t.pid, t.threads]));
      const tids = tree.tasks.flatMap((t) => (t.kind === 'task' ? (threadsOf.get(t.oldPid)?.map((th) => th.tid) ?? []) : []));
      if (!opts.pidns) spool = checkPids([...tree.tasks.filter((t) => t.newPid).map((t) => t.newPid), ...tids], streamed);
      return w;
    });
    for (const message of warnings) clock.warn(message);
    const image = input.name;
    await runAction(clock, hook, { action: 'pre-restore', pid: root.pid, pids: meta.tree.tasks.map((t) => t.pid), image, signal: opts.signal });
    if (opts.signal?.aborted) throw aborted();

    const perCpu = meta.tasks.length <= 256 ? 2 : 1;
    const workers = Math.max(1, Math.min(opts.parallel ?? perCpu * os.availableParallelism(), meta.tasks.length, 64));
    const run = { workers, pidWaitMs: opts.pidWaitMs ?? 5000, spool, trusted: trust.full, elapsedMs: Date.now() - Date.parse(meta.header.createdAt) };
    // chunk by chunk (task by task), so the helper parses while the rest is being written
    await h.sendChunks(planLines(meta, plan, opts, run, true));
    // spooled: the image is here up to its trailer, verified, before the pids are waited for
    if (spool) await clock.run('spool', async () => acknowledge(opts, checkLoaded(input.name, meta, loadedOf(await h.next('spooled')))));
    await clock.run('plan', () => h.next('planned'));
    const created = await clock.run('create', () => h.next('created'));
    const outer = created.pids;
    const inner = created.nspids;
    const pids: Record<number, number> = {};
    const hostPids: Record<number, number> = {};
    tree.tasks.forEach((t, i) => {
      if (t.kind !== 'task' && t.kind !== 'zombie') return;
      pids[t.oldPid] = inner[i]!;
      hostPids[t.oldPid] = outer[i]!;
    });
    log.debug({ pids }, 'created');
    // The kernel restart of each task runs in its tracer (one tracer process per worker, task
    // i in worker i % workers, one task at a time each): every task's step is sent at once and
    // each worker takes the next as soon as it is done, with no round trip through here in
    // between. A step's duration is the tracer's own measure (sent with its report).
    const live = tree.tasks.filter((t) => t.kind === 'task');
    // a process sharing its creator's fd table finishes after the others, one at a time: the
    // first task of the table closes the fds the restorer left there before any sharer takes
    // its POSIX locks (native/helper/restore/restore_share.c)
    const sharer = new Set(meta.tasks.filter((t) => t.attrs?.files).map((t) => t.pid));
    const perTask = async (step: 'map' | 'finish', done: 'mapped' | 'finished') => {
      for (const t of live) faultPoint(step, t.oldPid);
      const waves = step === 'finish' && sharer.size ? [live.filter((t) => !sharer.has(t.oldPid)), ...live.filter((t) => sharer.has(t.oldPid)).map((t) => [t])] : [live];
      for (const wave of waves) await runWave(step, done, wave);
    };
    const runWave = async (step: 'map' | 'finish', done: 'mapped' | 'finished', wave: typeof live) => {
      h.send(...wave.map((t) => (step === 'map' ? restoreMap : restoreFinish)({ task: t.index })));
      await Promise.all(
        wave.map((t) =>
          h.waitFor((e): e is EvMapped | EvFinished => e.ev === done && e.task === t.index).then((e) => clock.record(step, e.us / 1000, t.oldPid)),
        ),
      );
    };
    const total = meta.tasks.reduce((s, t) => s + runPages(t) * PAGE_SIZE, 0);
    const loaded = await clock.run('memory', async () => {
      await perTask('map', 'mapped');
      clock.progress(0, total);
      h.onProgress = (b) => clock.progress(b, total);
      // and then that nothing follows the trailer (its answer waits until the trailer is checked)
      h.send(restorePages(), restoreEof());
      const ev = await h.next('loaded');
      clock.progress(ev.bytes, total);
      return ev;
    });
    const pageBytes = loaded.bytes;
    await clock.run('verify', async () => {
      const trailer = checkLoaded(input.name, meta, loadedOf(loaded));
      if (!spool) acknowledge(opts, trailer);
      await h.next('eof');
    });
    h.send(restoreCommit());
    const current = Object.values(hostPids);
    await clock.run('resume', async () => {
      await perTask('finish', 'finished');
      await runAction(clock, hook, { action: 'post-restore', pid: hostPids[root.pid]!, pids: current, image, signal: opts.signal });
      await signalsSeen();
      if (opts.signal?.aborted) throw aborted();
      // The point of no return: the helper lets every task go, with the interrupts blocked
      // (all or none run). An abort from here no longer undoes the restart.
      opts.signal?.removeEventListener('abort', onAbort);
      h.send(restoreResume());
      return h.next('running');
    });
    resumed = true;
    const notified: number[] = [];
    if (sig !== undefined)
      await clock.run('notify', () => {
        for (const t of meta.tasks) {
          const p = hostPids[t.pid]!;
          if ((t.sigactions.find((a) => a.sig === sig)?.handler ?? 0) > 1 && notify(p, sig, NOTIFY_RESTARTED)) notified.push(p);
        }
      });
    await runAction(clock, hook, { action: 'post-resume', pid: hostPids[root.pid]!, pids: current, image }).catch((e: Error) =>
      clock.warn(`${e.message} (after the tree was resumed: it runs on)`),
    );
    const result: RestartResult = {
      root: hostPids[root.pid]!,
      pids,
      hostPids,
      tasks: meta.tree.tasks.length,
      pageBytes,
      phases: clock.phases,
      durations: phaseDurations(clock.phases),
      warnings,
      notified,
    };
    if (opts.detach) {
      await h.exited;
      return result;
    }
    // An abort while waiting stops the wait: the tree runs on (the helper, its root's parent,
    // goes: the root is reparented as with --detach).
    const exit = await untilAborted(h.next('exit'), opts.signal);
    if (!exit) {
      h.terminate();
      await h.exited;
      return { ...result, stoppedWaiting: true };
    }
    await h.exited;
    return { ...result, exitCode: exit.code >= 0 ? exit.code : undefined, exitSignal: exit.signal || undefined };
  } catch (e) {
    // after the resume the tree runs (the helper reports a failure of the let-go itself only
    // after it has killed every task): a later failure (the wait for the root) leaves it running
    if (resumed) throw fromHelper(e, 'restart', rootPid);
    if (helper) {
      // The helper kills and reaps every task it created before it exits (it is their
      // subreaper); it is killed only if it does not finish that in time.
      helper.close();
      const timer = setTimeout(() => helper!.kill(), 10_000);
      const status = await helper.exited;
      clearTimeout(timer);
      await interruptSeen(status, opts.signal);
    }
    if (opts.signal?.aborted && !(e instanceof AbortedError)) throw aborted();
    throw fromHelper(e, 'restart', rootPid);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    input.close();
    if (nullFd !== undefined) fs.closeSync(nullFd);
    endLean?.();
  }
}
