/**
 * Content objects of a tree: shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, shown as
 * "/dev/zero (deleted)"), memfds and open files whose path was unlinked, whether mapped, held
 * as fds, or both. One object per inode, whoever holds it, so memory shared between tasks (and
 * between an fd and a mapping) is shared again after restart.
 *
 * Checkpoint: the helper opens each object once (a memfd fd's /proc/PID/fd/N, else a mapping's
 * /proc/PID/map_files/START-END), reports its size, seals and the pages that hold data
 * (SEEK_DATA/SEEK_HOLE: holes stay holes), and later streams those pages as OBJECT records
 * before any task's PAGES records. Contents never pass through JavaScript.
 */
import type { FileImage, ObjectImage, TaskImage } from '../image/types.js';
import fs from 'node:fs';
import { UcrError, UnsupportedError } from '../errors.js';
import type { Helper } from './helper.js';
import { commOf } from './proc.js';

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

/** What a mapping's name says the object is. */
function mappedKind(path: string): { kind: Kind; name?: string } {
  if (path.startsWith('/memfd:')) return { kind: 'memfd', name: memfdName(path) };
  if (path === '/dev/zero (deleted)') return { kind: 'anon' };
  return { kind: 'unlinked', name: path.replace(/ \(deleted\)$/, '') };
}

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
  const sources = new Map<number, Source>();
  for (const f of files)
    if ((f.kind === 'memfd' || f.kind === 'unlinked') && f.obj !== undefined && !sources.has(f.obj))
      sources.set(f.obj, { ino: f.obj, path: fdPaths.get(f.obj)!, kind: f.kind, name: f.path });
  for (const t of tasks)
    for (const v of t.vmas) {
      if (v.kind !== 'object' || v.obj === undefined || sources.has(v.obj)) continue;
      const path = `/proc/${procPids.get(t.pid) ?? t.pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`;
      sources.set(v.obj, { ino: v.obj, path, ...mappedKind(v.path ?? '') });
    }
  findOutsideMappers(sources, leaks);
  const ids = new Map<number, number>();
  const objects: ObjectImage[] = [];
  const paths = new Map<number, string>();
  for (const s of sources.values()) {
    h.send(`object ${s.path}`);
    const ev = (await h.next('object')) as unknown as { size: number; seals: number; mode: number; uid: number; gid: number; nlink: number; runs: [number, number][] };
    if (s.kind === 'unlinked' && ev.nlink > 0)
      throw new UnsupportedError(`${s.name} (deleted): unlinked from this path but still linked elsewhere: not supported yet`, { object: s.name, phase: 'memory' });
    const id = objects.length;
    ids.set(s.ino, id);
    paths.set(id, s.path);
    objects.push({
      id,
      kind: s.kind,
      ...(s.name !== undefined ? { name: s.name } : {}),
      ...(s.kind !== 'anon' ? { mode: ev.mode, owner: [ev.uid, ev.gid] as [number, number] } : {}),
      size: ev.size,
      seals: s.kind === 'memfd' ? ev.seals : 0,
      runs: ev.runs,
    });
  }
  for (const f of files) if (f.obj !== undefined) f.obj = ids.get(f.obj)!;
  for (const t of tasks) for (const v of t.vmas) if (v.kind === 'object' && v.obj !== undefined) v.obj = ids.get(v.obj)!;
  return { objects, paths };
}

export interface LeakPolicy {
  /** the tree and ucr's own processes */
  skip: (pid: number) => boolean;
  allowLeaks: boolean;
  warn: (message: string) => void;
}

/** A content object also mapped by a process outside the tree would not be shared with it
 * after the restart: refused like any leaked object, unless allowed (then a warning). Its fds
 * held outside are found by files.ts. */
function findOutsideMappers(sources: Map<number, Source>, leaks: LeakPolicy): void {
  if (!sources.size) return;
  const seen = new Set<number>();
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!pid || leaks.skip(pid)) continue;
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/maps`, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const s = sources.get(Number(line.split(/\s+/, 5)[4]));
      if (!s || seen.has(s.ino) || !line.endsWith(' (deleted)')) continue;
      seen.add(s.ino);
      const what = `${s.kind === 'anon' ? 'shared anonymous memory' : s.kind === 'memfd' ? `memfd ${s.name}` : `unlinked file ${s.name}`}`;
      const msg = `${what} is also mapped by process ${pid} (${commOf(pid)}) outside the checkpointed tree`;
      if (!leaks.allowLeaks) throw new UcrError(`${msg} (use --allow-leaks to checkpoint anyway)`, { code: 'ELEAK', phase: 'memory' });
      leaks.warn(`${msg}: leaked, the restart will not share it`);
    }
  }
}

/** Streams every object's pages as OBJECT records; returns the digest and counts to chain on. */
export async function dumpObjects(h: Helper, objs: CapturedObjects, digest: number): Promise<{ digest: number; records: number; bytes: number; stored: number }> {
  let records = 0;
  let bytes = 0;
  let stored = 0;
  for (const o of objs.objects) {
    if (!o.runs.length) continue;
    h.send(`objdump ${o.id} ${digest} ${objs.paths.get(o.id)!}`, ...o.runs.map(([off, n]) => `run ${off} ${n}`), 'end');
    const ev = await h.next('objdump');
    digest = ev.digest as number;
    records += ev.records as number;
    bytes += ev.bytes as number;
    stored += (ev.stored as number | undefined) ?? (ev.bytes as number);
  }
  return { digest, records, bytes, stored };
}

/** The helper plan lines that create the objects (before any file or task line). */
export function objectLines(objects: ObjectImage[]): string[] {
  const KIND = { anon: 0, memfd: 1, unlinked: 2 };
  return objects.map(
    (o) =>
      `obj ${o.id} ${KIND[o.kind]} ${o.size} ${o.seals} ${o.name !== undefined ? Buffer.from(o.name).toString('hex') || '00' : '-'}` +
      (o.mode !== undefined ? ` ${o.mode}${o.owner ? ` ${o.owner[0]} ${o.owner[1]}` : ''}` : ''),
  );
}

/** Bytes of memory contents the image carries: shared memory objects and task pages. */
export function contentBytes(objects: ObjectImage[] | undefined, tasks: TaskImage[]): number {
  const pages = (runs: [number, number][]) => runs.reduce((a, [, n]) => a + n * 4096, 0);
  return (objects ?? []).reduce((s, o) => s + pages(o.runs), 0) + tasks.reduce((s, t) => s + pages(t.pageRuns), 0);
}
