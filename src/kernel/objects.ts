/**
 * Content objects of a tree: shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, shown as
 * "/dev/zero (deleted)"), memfds and open files whose path was unlinked, whether mapped, held
 * as fds, or both; and directories that were removed while a task's cwd or held open (no
 * contents, a mode). One object per inode, whoever holds it, so memory shared between tasks (and
 * between an fd and a mapping) is shared again after restart.
 *
 * Checkpoint: the helper opens each object once (a memfd fd's /proc/PID/fd/N, else a mapping's
 * /proc/PID/map_files/START-END), reports its size, seals and the pages that hold data
 * (SEEK_DATA/SEEK_HOLE: holes stay holes), and later streams those pages as OBJECT records
 * before any task's PAGES records. Contents never pass through JavaScript.
 */
import { OBJECT_KINDS, objectName } from '../image/object-kinds.js';
import type { FileImage, ObjectImage, TaskImage } from '../image/types.js';
import fs from 'node:fs';
import { UcrError, UnsupportedError } from '../errors.js';
import type { Helper } from './helper.js';
import { planObj, planObjtimes, type EvObject, dumpObject, dumpObjdump, dumprunEnd, dumprunRun } from './protocol.gen.js';
import { commOf, sessionHint } from './proc.js';
import { PAGE_SIZE } from '../image/format.js';
import { runPages } from '../image/packed-task.js';

interface Source {
  ino: number;
  path: string;
  kind: ObjectImage['kind'];
  name?: string;
}

export interface CapturedObjects {
  objects: ObjectImage[];
  /** object id -> the path the helper reads it through */
  paths: Map<number, string>;
}

const memfdName = (path: string) => path.slice('/memfd:'.length).replace(/ \(deleted\)$/, '');

type Kind = ObjectImage['kind'];

/** What a mapping's name says the object is (memory.ts made it an object mapping). */
function mappedKind(path: string): { kind: Kind; name?: string } {
  if (path.startsWith('/memfd:')) return { kind: 'memfd', name: memfdName(path) };
  if (path === '/dev/zero (deleted)') return { kind: 'anon' };
  if (!path.endsWith(' (deleted)')) return { kind: 'tmpfs', name: path };
  return { kind: 'unlinked', name: path.replace(/ \(deleted\)$/, '') };
}

/** Objects by inode until they are numbered; a tmpfs file lives on another filesystem than
 * the kernel's internal one of memfds and shared anonymous memory, so its inode is a key of
 * its own, and so is a socket queue's (the helper's memfd, only ever referred to as a queue).
 * An unlinked file and a removed directory share one key: an fd of either is 'unlinked'. */
const keyOf = (kind: Kind, ino: number) => `${OBJECT_KINDS[kind].inodes}:${ino}`;

/**
 * Numbers the tree's content objects, replaces the inodes that memory.ts and the fd kinds left
 * in `obj` by object ids, and asks the helper what each object holds.
 * fdPaths: inode -> a /proc path of one of its fds (files.ts).
 */
export async function captureObjects(
  h: Helper,
  tasks: TaskImage[],
  procPids: Map<number, number>,
  files: FileImage[],
  fdPaths: Map<number, string>,
  leaks: LeakPolicy,
): Promise<CapturedObjects> {
  const sources = new Map<string, Source>();
  for (const f of files)
    if ('obj' in f && !sources.has(keyOf(f.kind, f.obj))) {
      const path = fdPaths.get(f.obj)!;
      const kind = f.kind === 'unlinked' && fs.statSync(path).isDirectory() ? 'unlinked-dir' : f.kind;
      sources.set(keyOf(kind, f.obj), { ino: f.obj, path, kind, name: f.path });
    }
  const queues = (f: FileImage) => ('inet' in f ? [f.inet.tcp?.recvObj, f.inet.tcp?.sendObj] : []).filter((q): q is [number, number] => q !== undefined);
  for (const f of files) for (const [ino] of queues(f)) sources.set(keyOf('queue', ino), { ino, path: fdPaths.get(ino)!, kind: 'queue' });
  for (const t of tasks)
    if (t.cwdObj !== undefined && !sources.has(keyOf('unlinked-dir', t.cwdObj)))
      sources.set(keyOf('unlinked-dir', t.cwdObj), { ino: t.cwdObj, path: `/proc/${procPids.get(t.pid) ?? t.pid}/cwd`, kind: 'unlinked-dir', name: t.cwd });
  for (const t of tasks)
    for (let i = 0; i < t.vmas.length; i++) {
      const v = t.vmas[i]!; // by index: 10,000 mappings of a task (see runBytes)
      if (v.kind !== 'object' || v.obj === undefined) continue;
      const what = mappedKind(v.path ?? '');
      if (sources.has(keyOf(what.kind, v.obj))) continue;
      const path = `/proc/${procPids.get(t.pid) ?? t.pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`;
      sources.set(keyOf(what.kind, v.obj), { ino: v.obj, path, ...what });
    }
  // a tmpfs file mapped shared is an object: its private mappings map the object too
  for (const t of tasks)
    for (let i = 0; i < t.vmas.length; i++) {
      const v = t.vmas[i]!;
      if (v.kind === 'file' && v.file && sources.get(keyOf('tmpfs', v.file.ino))?.name === v.path) {
        v.kind = 'object';
        v.obj = v.file.ino;
        delete v.file;
      }
    }
  findOutsideMappers(sources, leaks);
  findOutsideCwds(sources, tasks, procPids, leaks);
  const ids = new Map<string, number>();
  const objects: ObjectImage[] = [];
  const paths = new Map<number, string>();
  for (const s of sources.values()) {
    const k = OBJECT_KINDS[s.kind];
    const ev = k.empty ? removedDir(s.path) : await objectOf(h, s.path);
    if (k.removed && ev.nlink > 0)
      throw new UnsupportedError(`${s.name} (deleted): unlinked from this path but still linked elsewhere: not supported yet`, { object: s.name, phase: 'memory' });
    const id = objects.length;
    ids.set(keyOf(s.kind, s.ino), id);
    paths.set(id, s.path);
    objects.push({
      id,
      kind: s.kind,
      ...(s.name !== undefined ? { name: s.name } : {}),
      ...(k.owned ? { mode: ev.mode, owner: [ev.uid, ev.gid] as [number, number] } : {}),
      ...(k.inode ? { inode: tmpfsInode(s.name!, s.ino) } : {}),
      size: ev.size,
      seals: k.sealed ? ev.seals : 0,
      ...(k.timed ? { times: [ev.atime_s, ev.atime_ns, ev.mtime_s, ev.mtime_ns] as [number, number, number, number] } : {}),
      runs: ev.runs,
    });
  }
  for (const f of files) if ('obj' in f) f.obj = ids.get(keyOf(f.kind, f.obj))!;
  for (const f of files) for (const q of queues(f)) q[0] = ids.get(keyOf('queue', q[0]))!;
  for (const t of tasks) if (t.cwdObj !== undefined) t.cwdObj = ids.get(keyOf('unlinked-dir', t.cwdObj))!;
  for (const t of tasks)
    for (let i = 0; i < t.vmas.length; i++) {
      const v = t.vmas[i]!;
      if (v.kind === 'object' && v.obj !== undefined) v.obj = ids.get(keyOf(mappedKind(v.path ?? '').kind, v.obj))!;
    }
  return { objects, paths };
}

type ObjectFacts = Omit<EvObject, 'ev'>;

/** What the helper finds in an object with contents. */
async function objectOf(h: Helper, path: string): Promise<ObjectFacts> {
  h.send(dumpObject({ path }));
  return h.next('object');
}

/** A removed directory: its mode and owner; it is empty (a directory must be, to be removed). */
function removedDir(path: string): ObjectFacts {
  const st = fs.statSync(path, { bigint: true });
  const [as, an] = [st.atimeNs / 1_000_000_000n, st.atimeNs % 1_000_000_000n];
  const [ms, mn] = [st.mtimeNs / 1_000_000_000n, st.mtimeNs % 1_000_000_000n];
  return {
    size: 0,
    seals: 0,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    nlink: Number(st.nlink),
    atime_s: Number(as),
    atime_ns: Number(an),
    mtime_s: Number(ms),
    mtime_ns: Number(mn),
    runs: [],
  };
}

/** The identity of a tmpfs file at checkpoint, compared on restart: the file at its path must
 * be this very file, or gone. */
function tmpfsInode(path: string, ino: number): { dev: number; ino: number } {
  const st = fs.statSync(path);
  if (st.ino !== ino) throw new UnsupportedError(`${path}: the file at this path was replaced while it is mapped`, { object: path, phase: 'memory' });
  return { dev: st.dev, ino };
}

export interface LeakPolicy {
  /** the tree and ucr's own processes */
  skip: (pid: number) => boolean;
  allowLeaks: boolean;
  warn: (message: string) => void;
}

/** A removed working directory of the tree that is also the working directory of a process
 * outside it (an orphan of the tree's session...) would not be shared with it after the
 * restart (the restart makes it again, a directory of its own): refused like a leaked file. */
function findOutsideCwds(sources: Map<string, Source>, tasks: TaskImage[], procPids: Map<number, number>, leaks: LeakPolicy): void {
  const removed = new Map<string, { pid: number; name: string }>(); // dev:ino -> a task with it
  for (const t of tasks) {
    if (t.cwdObj === undefined || !sources.has(keyOf('unlinked-dir', t.cwdObj))) continue;
    const proc = procPids.get(t.pid) ?? t.pid;
    const st = fs.statSync(`/proc/${proc}/cwd`);
    removed.set(`${st.dev}:${st.ino}`, { pid: proc, name: t.cwd });
  }
  if (!removed.size) return;
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!pid || leaks.skip(pid)) continue;
    let st: fs.Stats;
    try {
      st = fs.statSync(`/proc/${pid}/cwd`);
    } catch {
      continue;
    }
    const t = removed.get(`${st.dev}:${st.ino}`);
    if (!t) continue;
    const msg = `process ${t.pid}'s working directory ${t.name} (deleted) is also the working directory of process ${pid} (${commOf(pid)}) outside the checkpointed tree`;
    if (!leaks.allowLeaks) throw new UcrError(`${msg} (${sessionHint(t.pid, pid)}use --allow-leaks to checkpoint anyway)`, { code: 'ELEAK', pid: t.pid, phase: 'memory' });
    leaks.warn(`${msg}: leaked, the restart makes it again as a directory of its own`);
    removed.delete(`${st.dev}:${st.ino}`);
  }
}

/** Every line of every other process's /proc/PID/maps (processes that vanish are skipped). */
function forEachMapping(skip: (pid: number) => boolean, fn: (pid: number, line: string) => void): void {
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!pid || skip(pid)) continue;
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/maps`, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) fn(pid, line);
  }
}

/** The object a maps line shows, if it is one of sources: by inode, and by the path a tmpfs
 * file has, or the " (deleted)" that the kernel's own objects and unlinked files show. */
function sourceOf(sources: Map<string, Source>, line: string): Source | undefined {
  const f = line.split(/\s+/);
  const ino = Number(f[4]);
  const path = line.slice(line.indexOf('/'));
  if (line.endsWith(' (deleted)')) return sources.get(keyOf('memfd', ino));
  const t = sources.get(keyOf('tmpfs', ino));
  return t && t.name === path ? t : undefined;
}


/** A content object also mapped by a process outside the tree would not be shared with it
 * after the restart: refused like any leaked object, unless allowed (then a warning). Its fds
 * held outside are found by files.ts. */
function findOutsideMappers(sources: Map<string, Source>, leaks: LeakPolicy): void {
  if (!sources.size) return;
  const seen = new Set<Source>();
  forEachMapping(leaks.skip, (pid, line) => {
    const s = sourceOf(sources, line);
    if (!s || seen.has(s)) return;
    seen.add(s);
    const msg = `${objectName(s)} is also mapped by process ${pid} (${commOf(pid)}) outside the checkpointed tree`;
    if (!leaks.allowLeaks) throw new UcrError(`${msg} (use --allow-leaks to checkpoint anyway)`, { code: 'ELEAK', phase: 'memory' });
    leaks.warn(`${msg}: leaked, the restart will not share it`);
  });
}

/**
 * On restart, before anything is created: a tmpfs file of the image is either gone (the helper
 * creates it again at its path, and removes it if the restart fails) or still the very file of
 * the checkpoint (same device and inode), mapped by no live process (its contents are put back
 * as they were). Another file at its path is refused, never mapped in its place.
 */
export function checkTmpfsObjects(objects: ObjectImage[] | undefined): void {
  const live = new Map<string, Source>();
  for (const o of objects ?? []) {
    if (!o.inode) continue; // a tmpfs file (OBJECT_KINDS.inode)
    let st: fs.Stats;
    try {
      st = fs.lstatSync(o.name!);
    } catch {
      continue; // gone: created again
    }
    if (!st.isFile() || st.dev !== o.inode.dev || st.ino !== o.inode.ino)
      throw new UcrError(`tmpfs file ${o.name}: another file has taken its path since the checkpoint; remove it to restart (the image holds the file's contents)`, {
        code: 'EFILE',
        object: o.name,
        phase: 'check',
      });
    live.set(keyOf('tmpfs', o.inode.ino), { ino: o.inode.ino, path: o.name!, kind: 'tmpfs', name: o.name });
  }
  if (!live.size) return;
  forEachMapping(
    (pid) => pid === process.pid,
    (pid, line) => {
      const s = sourceOf(live, line);
      if (s)
        throw new UcrError(`tmpfs file ${s.name}: mapped by process ${pid} (${commOf(pid)}), which is not part of the restart; its contents would change under it`, {
          code: 'EFILE',
          object: s.name,
          phase: 'check',
        });
    },
  );
}

/** Streams every object's pages as OBJECT records; returns the digest and counts to chain on. */
export async function dumpObjects(h: Helper, objs: CapturedObjects, digest: number): Promise<{ digest: number; records: number; bytes: number; stored: number }> {
  let records = 0;
  let bytes = 0;
  let stored = 0;
  for (const o of objs.objects) {
    if (!o.runs.length) continue;
    h.send(dumpObjdump({ obj: o.id, seed: digest, path: objs.paths.get(o.id)! }), ...o.runs.map(([addr, npages]) => dumprunRun({ addr, npages })), dumprunEnd());
    const ev = await h.next('objdump');
    digest = ev.digest;
    records += ev.records;
    bytes += ev.bytes;
    stored += ev.stored;
  }
  return { digest, records, bytes, stored };
}

/** The helper plan lines that create the objects (before any file or task line). */
export function objectLines(objects: ObjectImage[]): string[] {
  return objects.flatMap((o) => [
    planObj({ id: o.id, kind: OBJECT_KINDS[o.kind].nr, size: o.size, seals: o.seals, name: o.name, mode: o.mode, uid: o.owner?.[0], gid: o.owner?.[1], dev: o.inode?.dev, ino: o.inode?.ino }),
    ...(o.times ? [planObjtimes({ obj: o.id, atimeS: o.times[0], atimeNs: o.times[1], mtimeS: o.times[2], mtimeNs: o.times[3] })] : []),
  ]);
}

/** Bytes of memory contents the image carries: shared memory objects and task pages. */
export function contentBytes(objects: ObjectImage[] | undefined, tasks: TaskImage[]): number {
  return (objects ?? []).reduce((s, o) => s + runBytes(o.runs), 0) + tasks.reduce((s, t) => s + runPages(t) * PAGE_SIZE, 0);
}

/** The bytes of runs' pages (walked by index: a destructured [, n] is the iterator protocol per
 * run in cold code, 10,000 runs of a task) */
export function runBytes(runs: readonly (readonly [number, number])[]): number {
  let n = 0;
  for (let i = 0; i < runs.length; i++) n += runs[i]![1];
  return n * PAGE_SIZE;
}
