/**
 * The checkpoint coordinator: validates the target, freezes it through the helper, captures
 * its state, writes the image (metadata, then the helper's page records, then the trailer), and
 * lets the task run on (or kills it once the image is complete). Any failure releases the task
 * exactly as it was and removes a partial output file.
 */
import fs from 'node:fs';
import { AbortedError, CheckpointError, UcrError } from '../errors.js';
import { PhaseClock, phaseDurations, type PhaseRecord, type UcrEmitter } from '../events.js';
import { ImageWriter } from '../image/writer.js';
import type { TaskImage } from '../image/types.js';
import { cowLayout } from '../image/cow.js';
import { findInherited, keepStageable } from '../kernel/cow.js';
import { findSharing } from '../kernel/sharing.js';
import { shareSeccomp } from '../kernel/seccomp.js';
import { captureObjects, contentBytes, dumpObjects, runBytes } from '../kernel/objects.js';
import { captureFiles } from '../kernel/files.js';
import { startTicks } from '../kernel/inet-sockets.js';
import { askIpc, captureIpc, writeShmData } from '../kernel/ipc.js';
import { Helper, HelperError } from '../kernel/helper.js';
import { silentLogger, type Logger } from '../log.js';
import { collectOld, leanHeap } from '../heap.js';
import { actionHook, runAction, type ActionHook } from './actions.js';
import { fromHelper, fromVanished } from './errors.js';
import { ackFdOf, openOutput, reopenForReading, streamed } from './output.js';
import { notifyBeforeCheckpoint } from './notify.js';
import { signalNumber } from '../signals.js';
import { signalsSeen } from './signals-seen.js';
import { select, selectedNow } from './select.js';
import { freezeTree } from './freeze-tree.js';
import { captureTree } from './capture-tree.js';
import { writeMetadata } from './write-metadata.js';
import { checkRestorable } from './restart-plan.js';
import { callProcesses, RESTARTED_EXIT_STATUS } from './self.js';
import { dumpAck, dumpCompress, dumpDrain, dumpReserve, dumpKill, dumpRelease, dumpTcpkeep, dumpTcpkeeper, dumpTcprepair } from '../kernel/protocol.gen.js';
import { pagesLines } from '../kernel/scan-runs.js';
import { yieldUnderRealtime } from '../native/addon.js';
import { nowMs } from '../monotonic.js';

export interface CheckpointOptions {
  /** A path (created 0600, appearing only when complete), '-' for stdout, or an open fd. */
  output: string | number;
  /** Kill the tree once the image is complete: written and, into a pipe or a socket, read by
   * its reader to the last byte (else the checkpoint fails and the tree runs on).
   * @default false (the tree runs on) */
  kill?: boolean;
  /** Kill the tree only once the restart reading the image acknowledges that it has it whole
   * and verified (restart's ackFd; the acknowledgement is described in image/format.ts): read
   * from fd, by default the output itself, which must then be a socket. No acknowledgement
   * within timeoutMs (default 60000), or a wrong one: the checkpoint fails, the tree runs on.
   * Implies kill. @default none */
  killAfterAck?: { fd?: number; timeoutMs?: number };
  /** Checkpoint even when an object of the tree is also held outside it (then recorded as
   * leaked, with a warning event). @default false (refused) */
  allowLeaks?: boolean;
  /** Instead of the tree under pid: every process of this session (pid is then ignored). */
  session?: number;
  /** Instead of the tree under pid: every process of this process group. */
  pgid?: number;
  /** A unix socket whose peer is held outside the tree: 'refuse' (default) names the outside
   * process; 'close' restores the socket with its peer gone (reads get the queued bytes, then
   * EOF); 'reconnect' as 'close', but a datagram socket connected to a named socket (nothing
   * queued at it) connects to that name again on restart. Recorded in the image. */
  externalUnix?: 'refuse' | 'close' | 'reconnect';
  /** A TCP connection whose peer is outside the tree: 'close' (default) restores it reset (the
   * program reads the queued bytes, then gets ECONNRESET); 'established' restores it with
   * TCP_REPAIR, and with kill puts it into repair mode first so the kill sends no FIN or RST.
   * Recorded in the image. */
  tcp?: 'established' | 'close';
  /** Object kinds left out: 'sockets' are recorded as closed (the restarted program finds
   * those fds closed). */
  skip?: 'sockets'[];
  /** How long to wait for a task inside vfork() until its child execs or exits. @default 5000 */
  vforkWaitMs?: number;
  /** A script (path) or function run at 'pre-dump' and 'post-dump' (see actions.ts); a failure
   * abandons the checkpoint and leaves the tree running. @default none */
  actionScript?: string | ActionHook;
  /** Signal (name or number) queued to every task that has a handler for it, with
   * si_value 1, before it is frozen (see notify.ts). @default none */
  notifySignal?: string | number;
  /** Write page and content records LZ4-compressed where that makes them shorter (format 1.2
   * image; the result reports the ratio). @default false (format 1.1, as without it) */
  compress?: boolean;
  /** Refuse to replace an existing output file (checked first, and again when the complete image
   * is put in place with link()). @default false (an existing file is replaced atomically) */
  noClobber?: boolean;
  /** Phase, progress and warning events. */
  events?: UcrEmitter;
  /** pino logger (structured logs). @default silent */
  logger?: Logger;
  /** Aborting before the tree is killed or released leaves it running as it was, and no image. */
  signal?: AbortSignal;
  /** Keep this process's V8 heap lean while the checkpoint runs, as the CLI does (heap.ts: the
   * young generation's growth stops at 4 MiB semi-spaces; past 24 MiB, the old generation grows
   * by half of what a full GC leaves live): ~1/4 less peak memory for large trees, ~2% more CPU.
   * V8's flags are the process's: other work meanwhile runs with them too. @default false */
  leanHeap?: boolean;
}

export interface CheckpointResult {
  /** the root task */
  pid: number;
  /** every task saved, root first (zombies included) */
  pids: number[];
  tasks: number;
  /** threads of the live tasks, main threads included */
  threads: number;
  /** tasks notified with notifySignal before the freeze */
  notified: number[];
  /** self-checkpoint: ucr's call, left out and saved as a zombie child of the caller that
   * exits with restartedStatus in a restarted copy */
  self?: { caller: number; call: number; restartedStatus: number };
  warnings: string[];
  /** the root's stdio that leads outside the tree (also an 'external-stdio' event each): not
   * saved, a restart connects these fds to its own stdio slot */
  external: { pid: number; fds: number[]; path: string; slot: number }[];
  /** bytes of the whole image / of page data */
  bytes: number;
  pageBytes: number;
  /** with compress: page data bytes as stored, and pageBytes / storedBytes */
  compression?: { storedBytes: number; ratio: number; ms: number };
  killed: boolean;
  /** an output path that existed was replaced by the new image */
  replaced?: boolean;
  /** every phase as it ran (per task where it runs per task), ms since the start */
  phases: PhaseRecord[];
  /** total ms per phase name */
  durations: Record<string, number>;
}

/** A failure of restart's checks on the image being written: the checkpoint fails with it. */
function refuseUnrestorable(e: unknown, pid: number): never {
  const why = e instanceof HelperError ? `${e.failure.phase}: ${e.failure.object}: ${e.failure.msg}` : e instanceof Error ? e.message : String(e);
  throw new CheckpointError(`process ${pid}: the image would not restart (${why}): no image was completed`, { pid, code: 'EUNRESTORABLE', phase: 'check', cause: e });
}

export async function checkpoint(pid: number, opts: CheckpointOptions): Promise<CheckpointResult> {
  yieldUnderRealtime(); // under chrt -f: before the first turn of the event loop
  const log = (opts.logger ?? silentLogger).child({ module: 'checkpoint', pid });
  const clock = new PhaseClock('checkpoint', opts.events, log);
  const aborted = () => new AbortedError(`checkpoint of process ${pid} aborted`, { pid, cause: opts.signal?.reason });
  if (opts.signal?.aborted) throw aborted();
  const sig = opts.notifySignal === undefined ? undefined : signalNumber(opts.notifySignal);
  if (opts.notifySignal !== undefined && sig === undefined) throw new UcrError(`notify signal ${opts.notifySignal}: no such signal`, { code: 'EINVAL' });
  const sel = select(pid, opts);
  pid = sel.root;
  const hook = actionHook(opts.actionScript);
  const image = typeof opts.output === 'number' ? `fd ${opts.output}` : opts.output;
  // (the walk of the tree for its pids only when there is a hook to give them to)
  if (hook)
    await runAction(clock, hook, { action: 'pre-dump', pid, pids: selectedNow(sel), image, signal: opts.signal }).catch((e: unknown) => {
      throw opts.signal?.aborted ? aborted() : e;
    });
  if (opts.signal?.aborted) throw aborted();
  const notified = sig === undefined ? [] : await clock.run('notify', () => notifyBeforeCheckpoint(selectedNow(sel), sig));
  const out = openOutput(opts.output, opts.noClobber ?? false);
  let ackFd: number | undefined;
  let toStream = false; // a pipe or a socket: its reader must take the last byte (drain)
  let helper: Helper;
  try {
    ackFd = ackFdOf(opts, out);
    toStream = streamed(out.fd);
    helper = new Helper(['dump', ...(out.partial ? ['--partial', out.partial] : [])], [out.fd, ...(ackFd !== undefined ? [ackFd] : [])]);
  } catch (e) {
    out.abandon();
    throw e;
  }
  const onAbort = () => helper.close();
  opts.signal?.addEventListener('abort', onAbort);
  let final = false; // the tree is being killed or released: the image stays
  let back: number | undefined; // the image file opened again for the check
  let forgetKept = () => {}; // what the writer kept for the check (writer.ts keep)
  const closeBack = () => {
    if (back !== undefined) fs.closeSync(back);
    back = undefined;
    forgetKept();
  };
  const endLean = opts.leanHeap ? leanHeap(true) : undefined;
  try {
    const order = await freezeTree(helper, sel.roots, sel.member, clock, opts.vforkWaitMs ?? 5000);
    // not holders outside the tree either: ucr, its helper (and a self-checkpoint's caller)
    const ignore = new Set([process.pid, helper.pid ?? 0, ...(sel.self ? callProcesses(sel.self) : [])]);
    const { entries, tasks, procPids, prefetch, cgroups } = await captureTree(helper, order, clock, ignore);
    shareSeccomp(tasks); // each filter once in the image (kernel/seccomp.ts)
    if (sel.self) entries.push(sel.self.entry);
    // pages children still share with their parent since the fork: saved once (cow.ts)
    await findInherited(helper, tasks, entries);
    // the output's blocks for the pages allocated ahead while the rest is captured and the
    // metadata made (a tmpfs file: native/helper/stream/pipeline_writer.c); not when they are
    // compressed (fewer bytes than the pages)
    if (!opts.compress) helper.send(dumpReserve({ bytes: tasks.reduce((s, t) => s + runBytes(t.pageRuns), 0) }));
    // the namespace's System V tables read by the helper while the files are captured (kernel/ipc.ts)
    const ipcAsked = askIpc(helper, procPids.get(tasks[0]!.pid)!);
    // fd tables and fs info shared by processes (CLONE_FILES, CLONE_FS)
    findSharing(tasks, entries, (p) => procPids.get(p)!);
    const captured = await clock.run('files', () =>
      captureFiles(
        tasks.map((t) => procPids.get(t.pid)!),
        helper,
        {
          root: procPids.get(pid)!,
          ignore,
          prefetch,
          allowLeaks: opts.allowLeaks ?? false,
          externalUnix: opts.externalUnix,
          tcp: opts.tcp,
          kill: opts.kill,
          skipSockets: opts.skip?.includes('sockets'),
          imagePid: new Map([...procPids].map(([image, proc]) => [proc, image])),
          zombies: new Map(entries.filter((e) => e.state === 'zombie').map((e) => [e.pid, e.pid])),
        },
      ),
    );
    const inTree = new Set([...procPids.keys(), ...procPids.values(), ...ignore]);
    const objects = await clock.run('objects', () =>
      captureObjects(helper, tasks, procPids, captured.files.files, captured.objectPaths, {
        skip: (p) => inTree.has(p),
        allowLeaks: opts.allowLeaks ?? false,
        warn: (m) => captured.warnings.push(m),
      }),
    );
    if (objects.objects.length) captured.files.objects = objects.objects;
    keepStageable(tasks, entries);
    const ipc = await clock.run('ipc', () => captureIpc(helper, tasks, (p) => procPids.get(p)!, ipcAsked));
    for (const message of captured.warnings) clock.warn(message, pid);
    for (const x of captured.external) opts.events?.emit('external-stdio', { op: 'checkpoint', ...x });
    log.debug({ tasks: entries.length, files: captured.files.files.length }, 'captured');
    if (opts.signal?.aborted) throw aborted();
    if (opts.kill && captured.tcpKeep.length) {
      // after the kill, the keeper holds the connections to outside peers, locked, until the restart
      for (const c of captured.tcpKeep) {
        helper.send(dumpTcpkeep(c));
        await helper.next('tcpkeep');
      }
      helper.send(dumpTcpkeeper());
      const k = (await helper.next('tcpkeeper')).pid;
      const start = startTicks(k);
      for (const c of captured.tcpKeep) c.file.inet.keeper = { pid: k, start };
    }
    const w = new ImageWriter(out.fd, typeof opts.output === 'number' ? `fd ${opts.output}` : opts.output);
    // restart's own checks (below) read the metadata back from the image file, or a copy as written
    back = reopenForReading(out);
    if (back === undefined) w.copyFrom();
    w.keep = true;
    forgetKept = () => void w.knownRecords();
    await clock.run('write-metadata', () =>
      writeMetadata(w, { root: pid, entries, tasks, procPids, files: captured, cgroups, ipc: ipc.ipc, compress: opts.compress ?? false }),
    );
    // the PAGES stream's order (staged runs first when tasks share memory: image/cow.ts), from
    // the mappings, before they are let go
    const layout = cowLayout(tasks, entries).stream;
    // written: of the tasks, only pids and page runs are needed from here on (pages, the count of
    // page bytes); the rest (fds, registers, xstate...) goes before the check decodes its own
    const threads = tasks.reduce((n, t) => n + 1 + t.threads.length, 0);
    for (let i = 0; i < tasks.length; i++) tasks[i] = { pid: tasks[i]!.pid, pageRuns: tasks[i]!.pageRuns } as TaskImage;
    if (endLean) collectOld(); // a large tree's (heap.ts): the check's decode starts from what is live
    // Restart's own checks on those bytes run while the pages are written (from the next turn
    // of the event loop once every page command is out: the helper reads the check's plan after
    // them); the trailer waits for them (the phase 'check' is that wait).
    const metadata = back === undefined ? w.copied() : { fd: back, length: w.bytes };
    let pagesSent = () => {};
    const sent = new Promise<void>((r) => (pagesSent = r));
    const checked = sent
      .then(() => new Promise((r) => setImmediate(r)))
      .then(() => checkRestorable(metadata, image, helper, w.knownRecords()).finally(closeBack))
      .catch((e: unknown) => refuseUnrestorable(e, pid));
    checked.catch(() => {}); // awaited before the trailer; not unhandled if the pages fail first
    const total = tasks.reduce((s, t) => s + runBytes(t.pageRuns), 0);
    let pageBytes = 0;
    let storedBytes = 0;
    const pagesStart = nowMs();
    if (opts.compress) {
      helper.send(dumpCompress({ algo: 'lz4' }));
      await helper.next('compress');
    }
    clock.progress(0, total);
    // a progress report can come for a task whose predecessor's answer is not counted yet
    let shown = 0;
    helper.onProgress = (b) => clock.progress((shown = Math.max(shown, pageBytes + b)), total);
    await clock.run('write-pages', async () => {
      const sh = await dumpObjects(helper, objects, w.digest);
      w.addPages(sh.records, sh.stored, sh.digest);
      pageBytes += sh.bytes;
      storedBytes += sh.stored;
      // in the stream's order: staged runs first when tasks share memory (image/cow.ts); every
      // part asked for at once, each chained on the digest the one before ends with (seed -1):
      // the helper writes them back to back, without a round trip per part, while restart's
      // checks of the metadata run here
      const stream = layout.filter(({ runs }, _, all) => runs.length || all.length === tasks.length);
      stream.forEach(({ task: i, runs }, k) => helper.sendLines(pagesLines(tasks[i]!.pid, i, k ? -1 : w.digest, runs)));
      pagesSent();
      const answers = stream.map(() => helper.next('pages'));
      for (const a of answers) a.catch(() => {}); // awaited in order below
      for (const [k, { task: i }] of stream.entries()) {
        const ev = await clock.run('pages', () => answers[k]!, tasks[i]!.pid);
        w.addPages(ev.records, ev.stored, ev.digest);
        pageBytes += ev.bytes;
        storedBytes += ev.stored;
        clock.progress(pageBytes, total);
      }
    });
    const shm = await clock.run('write-shm', async () => {
      const r = await writeShmData(helper, ipc, w.digest);
      w.addPages(r.records, r.bytes, r.digest);
      return r;
    });
    const pagesMs = nowMs() - pagesStart;
    await clock.run('check', () => checked);
    // restart's own count of what the page records must hold
    const expectBytes = contentBytes(objects.objects, tasks);
    if (pageBytes !== expectBytes) throw new CheckpointError(`process ${pid}: ${pageBytes} bytes of pages written, the metadata lists ${expectBytes}`, { pid, code: 'EUNRESTORABLE' });
    const trailer = w.trailer(pageBytes + shm.bytes);
    out.commit();
    const kill = (opts.kill ?? false) || ackFd !== undefined;
    // the tree is killed only once its image is where it goes: acknowledged by the restart
    // that reads it, or taken to the last byte by the reader of a pipe or socket
    if (ackFd !== undefined)
      await clock.run('ack', () => {
        helper.send(dumpAck({ ms: opts.killAfterAck?.timeoutMs ?? 60_000, digest: trailer.digest, records: trailer.records }));
        return helper.next('acked');
      });
    else if (kill && toStream)
      await clock.run('drain', () => {
        helper.send(dumpDrain());
        return helper.next('drained');
      });
    await runAction(clock, hook, { action: 'post-dump', pid, pids: entries.map((e) => e.pid), image, signal: opts.signal });
    await signalsSeen();
    if (opts.signal?.aborted) throw aborted();
    final = true;
    opts.signal?.removeEventListener('abort', onAbort);
    await clock.run(kill ? 'kill' : 'resume', async () => {
      // connections restored with TCP_REPAIR close silently: no FIN or RST, no TIME_WAIT
      for (const c of kill ? captured.tcpRepair : []) {
        helper.send(dumpTcprepair(c));
        await helper.next('tcprepair');
      }
      helper.send(kill ? dumpKill() : dumpRelease());
      await helper.next(kill ? 'killed' : 'released');
      out.release(); // the file the image replaced, if any: freed while the helper ends
      await helper.exited;
    });
    return {
      pid,
      pids: entries.map((e) => e.pid),
      tasks: entries.length,
      threads,
      notified,
      self: sel.self ? { caller: sel.self.caller, call: sel.self.top, restartedStatus: RESTARTED_EXIT_STATUS } : undefined,
      warnings: captured.warnings,
      external: captured.external,
      bytes: w.bytes,
      pageBytes,
      compression: opts.compress
        ? { storedBytes, ratio: storedBytes ? Math.round((pageBytes / storedBytes) * 100) / 100 : 1, ms: Math.round(pagesMs) }
        : undefined,
      killed: kill,
      ...(out.replaced !== undefined ? { replaced: out.replaced } : {}),
      phases: clock.phases,
      durations: phaseDurations(clock.phases),
    };
  } catch (e) {
    helper.close(); // EOF: the helper puts every task back as it was and detaches
    await helper.exited;
    if (final) {
      out.release();
      throw fromHelper(e, 'checkpoint', pid);
    }
    out.abandon();
    if (opts.signal?.aborted && !(e instanceof AbortedError)) throw aborted();
    throw fromVanished(fromHelper(e, 'checkpoint', pid));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    closeBack();
    endLean?.();
  }
}
