/**
 * The restart plan of an image: who creates which task at which pid (plan-tree.ts), and the
 * helper's plan lines (restore-plan.ts, native/helper/restore/plan.h). restart() sends these lines to the
 * helper that restores; checkpoint() builds the very same plan from the metadata it is about to
 * write and has the helper's own parser check it (`check` on the checkpoint's helper), so an image
 * that restart would refuse while planning is never written (checkRestorable below). Also
 * restart's verify step (checkLoaded), which inspect --verify runs on what the helper read
 * exactly as a restart reads it (`ucr-helper restore --verify`, verifyPages below).
 */
import { childProcess } from '../child-process.js';
import { ImageError, UcrError, UnsupportedError } from '../errors.js';
import { cowLayout, intersect, parents } from '../image/cow.js';
import { checkSystemLimits } from '../image/limits.js';
import { checkTrailerBytes, readMetadata, type KnownRecords } from '../image/reader.js';
import type { ImageMetadata, TaskImage, TreeEntry, Trailer } from '../image/types.js';
import { fdRows } from '../image/task-compact.js';
import { HelperError, type Helper } from '../kernel/helper.js';
import { decodeEvent, type EvLoaded, type EvSpooled } from '../kernel/protocol.gen.js';
import { contentBytes } from '../kernel/objects.js';
import { helperPath } from '../native/addon.js';
import { ipcLines, type IpcRestoreOptions } from '../kernel/ipc.js';
import { fileLines, runLines, taskLines, ttyModesLines } from '../kernel/restore-plan.js';
import { seccompFilterLines } from '../kernel/seccomp.js';
import { dumpCheck, planEnd, planForeground, planLz4, planPidns, planPidwait, planSeed, planSkipmem, planSpool, planTrusted, planWorkers } from '../kernel/protocol.gen.js';
import { applyTimerPolicy, type TimerPolicy } from '../kernel/timers.js';
import { actionLines, planTerminals, planTree, type TreePlan } from './plan-tree.js';
import { checkSharing } from '../kernel/sharing.js';
import { placeCgroups, type CgroupPlan } from '../kernel/cgroups.js';

export interface SkipMemory {
  pid?: number;
  start: number;
  end: number;
}

/** What of a restart's options shapes its plan (see RestartOptions). */
export interface PlanOptions {
  pids?: Map<number, number> | 'auto';
  pidns?: boolean;
  ipcns?: boolean;
  skip?: 'ipc'[];
  skipMemory?: SkipMemory[];
  timers?: TimerPolicy;
  detach?: boolean;
  tcpClose?: boolean;
}

export interface RestartPlan {
  tree: TreePlan;
  ipc: IpcRestoreOptions;
  /** tasks whose cgroups are not the restarter's (kernel/cgroups.ts) */
  cgroups: CgroupPlan;
}

/** --skip-memory as helper plan lines (task index or -1), refusing a pid that is not a task. */
function skipMemoryLines(skips: SkipMemory[], tasks: TaskImage[], entries: TreeEntry[]): string[] {
  const parent = parents(tasks, entries);
  return skips.map((s) => {
    const index = s.pid === undefined ? -1 : tasks.findIndex((t) => t.pid === s.pid);
    if (index < 0 && s.pid !== undefined) throw new UcrError(`--skip-memory: process ${s.pid} is not a live task of the image`, { code: 'EUSAGE' });
    // pages a parent and a child share are one page: zeroed for both or for neither
    const shares = (t: TaskImage) => intersect(t.inherited ?? [], [[s.start, (s.end - s.start) / 4096]]).length > 0;
    if (index >= 0 && (shares(tasks[index]!) || tasks.some((t, i) => parent[i] === index && shares(t))))
      throw new UcrError(`--skip-memory: process ${s.pid} shares pages of that range with its parent or a child (copy-on-write): give the range without a pid`, { code: 'EUSAGE' });
    return planSkipmem({ task: index, start: s.start, end: s.end });
  });
}

/** New pids: --pids first; in a new namespace the pid each task saw itself; else the same. */
function pidMapper(meta: ImageMetadata, pids: PlanOptions['pids'], pidns: boolean): (old: number) => number {
  if (pids === 'auto') return () => 0;
  const byPid = new Map(meta.tree.tasks.map((t) => [t.pid, t]));
  for (const old of pids?.keys() ?? [])
    if (!byPid.has(old)) throw new UcrError(`--pids: pid ${old} is not in the image`, { code: 'EINVAL', pid: old });
  return (old) => pids?.get(old) ?? (pidns ? byPid.get(old)?.nsPid : undefined) ?? old;
}

/** The tree plan: creators, pids, terminals; refuses what cannot be rebuilt. */
export function planRestart(meta: ImageMetadata, opts: PlanOptions): RestartPlan {
  const pidFor = pidMapper(meta, opts.pids, opts.pidns ?? false);
  checkSystemLimits(meta, pidFor);
  const taskImage = new Map(meta.tasks.map((t) => [t.pid, t]));
  const tree = planTree(meta.tree.tasks, pidFor, opts.pidns ?? false, (pid) => taskImage.get(pid)?.attrs?.files ?? taskImage.get(pid)?.attrs?.fs);
  planTerminals(tree, (meta.files.ttys ?? []).map((t) => t.index), (pid) => taskImage.get(pid));
  for (const t of tree.tasks) {
    const img = t.kind === 'task' ? taskImage.get(t.oldPid) : undefined;
    if (img?.threads.length && t.newPid !== (t.entry?.nsPid && opts.pidns ? t.entry.nsPid : t.oldPid))
      throw new UnsupportedError(
        `process ${t.oldPid} has ${img.threads.length + 1} threads: restarting it at another pid is not supported (glibc keeps every thread's id in memory)`,
        { pid: t.oldPid, phase: 'plan' },
      );
  }
  checkSharing(tree, taskImage);
  // a tree that had an IPC namespace of its own gets a new one unless told otherwise
  return { tree, ipc: { ipcns: opts.ipcns ?? meta.ipc.ownNamespace, skip: opts.skip?.includes('ipc') ?? false }, cgroups: placeCgroups(meta.tree) };
}

/** How the helper runs this restart (not part of the image's plan). */
export interface RunSettings {
  workers: number;
  pidWaitMs: number;
  spool: boolean;
  /** the image is root's and root restarts it, or the caller vouched for it: set-ID bits come back */
  trusted: boolean;
  /** ms since the checkpoint, for the timer policy */
  elapsedMs: number;
}

/**
 * The helper's plan lines, in chunks that can be sent as they are made (the helper parses while
 * the rest is being written): settings, objects and files, a chunk per task (and per 256 of its
 * threads), then the page
 * runs, the tree's actions and `end`.
 */
export function* planLines(meta: ImageMetadata, plan: RestartPlan, opts: PlanOptions, run: RunSettings, release = false): Generator<string[]> {
  const root = meta.tree.tasks[0]!;
  const ctx = { stdioFd: (slot: number) => 4 + slot, tcpClose: !!opts.tcpClose };
  yield [
    planWorkers({ value: run.workers }),
    planPidwait({ value: run.pidWaitMs }),
    planSeed({ value: meta.digest }),
    planSpool({ value: run.spool }),
    planLz4({ value: meta.header.compress === 'lz4' }),
    planPidns({ value: !!opts.pidns }),
    planTrusted({ value: run.trusted }),
    ...skipMemoryLines(opts.skipMemory ?? [], meta.tasks, meta.tree.tasks),
    // a tree restored into the caller's session is a job in the foreground, unless detached
    planForeground({ value: !opts.detach && root.sid !== root.pid }),
    ...(!opts.detach && root.sid !== root.pid ? ttyModesLines(meta.files) : []),
    ...ipcLines(meta.ipc, plan.ipc),
    ...fileLines(meta.files, ctx),
    ...seccompFilterLines(meta.tasks),
  ];
  const imageOf = new Map(meta.tasks.map((t) => [t.pid, t]));
  const cow = cowLayout(meta.tasks, meta.tree.tasks);
  // a task's staged pages are read right after it is created: the stream must follow the plan
  const created = new Map(plan.tree.actions.flatMap((a, i) => (a.op === 'clone' ? [[a.task, i] as const] : [])));
  cow.stream.reduce((last, part) => {
    if (!part.offsets) return last;
    const at = created.get(part.task) ?? -1;
    if (at < last) throw new ImageError(`process ${meta.tasks[part.task]!.pid}: the pages it shares with its children come in another order than this restart creates the tree`, { pid: meta.tasks[part.task]!.pid });
    return at;
  }, -1);
  const areas = new Map<Uint8Array, number>(); // each distinct XSAVE area of the tasks once
  for (const t of plan.tree.tasks) {
    const img = t.kind === 'task' ? imageOf.get(t.oldPid) : undefined;
    yield* taskLines(t, img && applyTimerPolicy(img, opts.timers ?? 'relative', run.elapsedMs), meta.files, cow.tasks.get(t.index), areas);
    const cg = img && plan.cgroups.lines.get(t.oldPid);
    if (cg) yield cg; // still the task's section
    cow.tasks.delete(t.index);
    if (release && img) releaseTask(img);
  }
  yield [...runLines(meta.files, cow.stream), ...actionLines(plan.tree.actions), planEnd()];
}

const NONE = new Uint8Array(0);

/** What restart() no longer needs of a task once its plan lines are made (release): its fds,
 * mappings, registers and XSAVE area (a tree of 1,000 tasks x 400 fds: ~20 MB of the CLI's peak,
 * let go task by task instead of all at the end). Kept: what the steps after the plan read (page
 * runs, signal actions, attrs, threads' tids). */
function releaseTask(t: TaskImage): void {
  t.fds = [];
  t.vmas = [];
  t.xstate = NONE;
  t.auxv = NONE;
  for (const th of t.threads) th.xstate = NONE;
}

/** The check's plan goes to the helper in pieces of this many bytes (checkRestorable). */
const CHECK_PIECE = 256 << 10;
/** A check whose metadata is at most CHECK_AHEAD_METADATA bytes makes its plan up to CHECK_AHEAD
 * bytes ahead of what the helper has read (Helper.sendChunks). Each fd counts FD_LINE bytes more
 * than it takes in the metadata: a packed fd table (format 1.8) is 12 bytes an fd there, its plan
 * a line each (1,000 tasks x 400 fds: ~7 MB of metadata, ~100 MB of plan). */
const CHECK_AHEAD_METADATA = 8 << 20;
const FD_LINE = 24;
const CHECK_AHEAD = 4 << 20;

/**
 * Checkpoint's own check of the metadata it is about to write (prelude to the last TASK record,
 * as bytes): read and validated by the reader restart uses, then planned as a restart with
 * default options would plan it, and that plan read by the helper's own plan parser (`check`
 * on the checkpoint's own helper, which goes on after answering). Throws what restart would say;
 * the metadata it returns has its tasks released (releaseTask) as they were planned. known: the
 * records the checkpoint wrote with the values they decode to (writer.ts keep), taken for
 * records whose bytes read back are exactly those (reader.ts).
 */
export async function checkRestorable(metadata: Buffer | Buffer[] | { fd: number; length: number }, name: string, helper: Helper, known?: KnownRecords): Promise<ImageMetadata> {
  // a list of buffers is emptied as it is read; an fd (the image file being written, opened
  // again for reading) is read at 0 to length, what the checkpoint wrote as metadata
  const length = Array.isArray(metadata) ? metadata.reduce((n, b) => n + b.length, 0) : metadata.length;
  const { meta, reader } = Buffer.isBuffer(metadata) || Array.isArray(metadata) ? readMetadata(metadata, name, false, false, known) : readMetadata(metadata.fd, name, true, true, known);
  if (reader.offset !== length) throw new ImageError(`${name}: ${length - reader.offset} bytes after the metadata`, { object: name });
  const opts: PlanOptions = {};
  const plan = planRestart(meta, opts);
  let fds = 0;
  for (const t of meta.tasks) fds += fdRows(t).length / 3;
  // each task's fds, mappings and XSAVE area let go once its lines are made, as restart does:
  // the caller keeps only what the steps after the plan read
  const lines = planLines(meta, plan, opts, { workers: 1, pidWaitMs: 0, spool: false, trusted: false, elapsedMs: 0 }, true);
  // one command: nothing else goes to the helper between its lines; a failure while making them
  // ends the plan with `end` (the helper reads up to it, its answer is not waited for)
  await helper.sendChunks(
    (function* () {
      // in pieces of ~256 KB: a chunk per task was a write to the helper's pipe per task, which
      // the helper reads only once the pages are out (the pipe full: each write queued apart)
      let piece = [dumpCheck()];
      let size = 0;
      for (const chunk of lines) {
        for (let i = 0; i < chunk.length; i++) {
          piece.push(chunk[i]!);
          size += chunk[i]!.length;
        }
        if (size < CHECK_PIECE) continue;
        yield piece;
        piece = [];
        size = 0;
      }
      yield piece;
    })(),
    { abort: [planEnd()] },
    // a checkpoint's helper reads the plan only once its pages are out: a short plan (a tree of
    // 100: ~1 MB) is made meanwhile instead of after them (~8 ms); a long one (1,000 tasks x 400
    // fds: ~100 MB) as the helper reads it, as before (its peak memory is the check's)
    length + fds * FD_LINE <= CHECK_AHEAD_METADATA ? CHECK_AHEAD : 0,
  );
  const ev = await helper.next('checked');
  if (ev.msg !== undefined) throw new HelperError({ phase: ev.phase ?? '', object: ev.object ?? '', syscall: ev.syscall ?? '', errno: ev.errno ?? 0, msg: ev.msg });
  return meta;
}

/** What the helper reports once it has read every page record and the trailer (`loaded`). */
export interface Loaded {
  /** page bytes of objects and tasks, and of System V segments */
  bytes: number;
  shmBytes: number;
  /** page, object and SHM records */
  records: number;
  digest: number;
  /** the trailer's payload */
  trailer: Buffer;
  /** inspect --verify: bytes of the LZ4 blocks */
  stored?: number;
}

export function loadedOf(ev: EvLoaded | EvSpooled): Loaded {
  return {
    bytes: ev.bytes,
    shmBytes: ev.shmbytes,
    records: ev.records,
    digest: ev.digest,
    trailer: Buffer.from(ev.trailer, 'hex'),
    ...('stored' in ev && ev.stored !== undefined ? { stored: ev.stored } : {}),
  };
}

/** Restart's verify step: the trailer decodes and matches the records, bytes and digest chain
 * the helper saw, and the page bytes are those the metadata lists. */
export function checkLoaded(name: string, meta: ImageMetadata, l: Loaded): Trailer {
  const expectBytes = contentBytes(meta.files.objects, meta.tasks);
  const trailer = checkTrailerBytes(name, l.trailer, { digest: l.digest, records: meta.records + l.records, pageBytes: expectBytes + l.shmBytes });
  if (l.bytes !== expectBytes) throw new ImageError(`${name}: corrupt image: page bytes ${l.bytes} != ${expectBytes}`, { object: name });
  return trailer;
}

/**
 * inspect --verify: the page records that follow the metadata on fd (its offset right after
 * the metadata), read and checked by the helper with the code a restart uses (order, task,
 * address, object, lengths, LZ4, SHM segments, checksums, trailer last, then the end of the
 * image), written nowhere; then restart's verify step. Synchronous, like inspect.
 */
export function verifyPages(fd: number, name: string, meta: ImageMetadata): { loaded: Loaded; trailer: Trailer } {
  const opts: PlanOptions = {};
  const plan = planRestart(meta, opts);
  const lines = [...planLines(meta, plan, opts, { workers: 1, pidWaitMs: 0, spool: false, trusted: false, elapsedMs: 0 })].flat();
  const r = childProcess().spawnSync(helperPath(), ['restore', '--verify'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'pipe', 'pipe', fd], maxBuffer: 1 << 26 });
  const events = (r.stdout?.toString('utf8') ?? '').split('\n').filter(Boolean).map(decodeEvent);
  const failed = events.find((e) => e.ev === 'error');
  if (failed) {
    const object = failed.object && !failed.msg.includes(failed.object) && failed.object !== 'image' ? `${failed.object}: ` : '';
    throw new ImageError(`${name}: ${object}${failed.msg}${failed.errno ? ` (errno ${failed.errno})` : ''}`, { object: name, errno: failed.errno || undefined });
  }
  const loaded = events.find((e) => e.ev === 'loaded');
  if (!loaded) throw new UcrError(`${name}: ucr-helper failed (${r.error?.message ?? r.signal ?? r.status}): ${r.stderr?.toString().trim().split('\n').pop() ?? ''}`, { object: name });
  const l = loadedOf(loaded);
  return { loaded: l, trailer: checkLoaded(name, meta, l) };
}
