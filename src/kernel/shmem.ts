/**
 * Content objects of a tree: shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, shown as
 * "/dev/zero (deleted)"), memfds and open files whose path was unlinked, whether mapped, held
 * as fds, or both. One object per inode, whoever holds it, so memory shared between tasks (and
 * between an fd and a mapping) is shared again after restart.
 *
 * Checkpoint: the helper opens each object once (a memfd fd's /proc/PID/fd/N, else a mapping's
 * /proc/PID/map_files/START-END), reports its size, seals and the pages that hold data
 * (SEEK_DATA/SEEK_HOLE: holes stay holes), and later streams those pages as SHMEM records
 * before any task's PAGES records. Contents never pass through JavaScript.
 */
import type { FileImage, ShmemImage, TaskImage } from '../image/types.js';
import { UnsupportedError } from '../errors.js';
import type { Helper } from './helper.js';

interface Source {
  ino: number;
  path: string;
  kind: ShmemImage['kind'];
  name?: string;
}

export interface CapturedShmem {
  objects: ShmemImage[];
  /** object id -> the path the helper reads it through */
  paths: Map<number, string>;
}

const memfdName = (path: string) => path.slice('/memfd:'.length).replace(/ \(deleted\)$/, '');

type Kind = ShmemImage['kind'];

/** What a mapping's name says the object is. */
function mappedKind(path: string): { kind: Kind; name?: string } {
  if (path.startsWith('/memfd:')) return { kind: 'memfd', name: memfdName(path) };
  if (path === '/dev/zero (deleted)') return { kind: 'anon' };
  return { kind: 'unlinked', name: path.replace(/ \(deleted\)$/, '') };
}

/**
 * Numbers the tree's content objects, replaces the inodes that memory.ts and the fd kinds left
 * in `shm` by object ids, and asks the helper what each object holds.
 * fdPaths: inode -> a /proc path of one of its fds (files.ts).
 */
export async function captureShmem(h: Helper, tasks: TaskImage[], procPids: Map<number, number>, files: FileImage[], fdPaths: Map<number, string>): Promise<CapturedShmem> {
  const sources = new Map<number, Source>();
  for (const f of files)
    if ((f.kind === 'memfd' || f.kind === 'unlinked') && f.shm !== undefined && !sources.has(f.shm))
      sources.set(f.shm, { ino: f.shm, path: fdPaths.get(f.shm)!, kind: f.kind, name: f.path });
  for (const t of tasks)
    for (const v of t.vmas) {
      if (v.kind !== 'shmem' || v.shm === undefined || sources.has(v.shm)) continue;
      const path = `/proc/${procPids.get(t.pid) ?? t.pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`;
      sources.set(v.shm, { ino: v.shm, path, ...mappedKind(v.path ?? '') });
    }
  const ids = new Map<number, number>();
  const objects: ShmemImage[] = [];
  const paths = new Map<number, string>();
  for (const s of sources.values()) {
    h.send(`shmem ${s.path}`);
    const ev = (await h.next('shmem')) as unknown as { size: number; seals: number; mode: number; nlink: number; runs: [number, number][] };
    if (s.kind === 'unlinked' && ev.nlink > 0)
      throw new UnsupportedError(`${s.name} (deleted): unlinked from this path but still linked elsewhere: not supported yet`, { object: s.name, phase: 'memory' });
    const id = objects.length;
    ids.set(s.ino, id);
    paths.set(id, s.path);
    objects.push({
      id,
      kind: s.kind,
      ...(s.name !== undefined ? { name: s.name } : {}),
      ...(s.kind === 'unlinked' ? { mode: ev.mode } : {}),
      size: ev.size,
      seals: s.kind === 'memfd' ? ev.seals : 0,
      runs: ev.runs,
    });
  }
  for (const f of files) if (f.shm !== undefined) f.shm = ids.get(f.shm)!;
  for (const t of tasks) for (const v of t.vmas) if (v.kind === 'shmem' && v.shm !== undefined) v.shm = ids.get(v.shm)!;
  return { objects, paths };
}

/** Streams every object's pages as SHMEM records; returns the digest and counts to chain on. */
export async function dumpShmem(h: Helper, shm: CapturedShmem, digest: number): Promise<{ digest: number; records: number; bytes: number }> {
  let records = 0;
  let bytes = 0;
  for (const o of shm.objects) {
    if (!o.runs.length) continue;
    h.send(`shmdump ${o.id} ${digest} ${shm.paths.get(o.id)!}`, ...o.runs.map(([off, n]) => `run ${off} ${n}`), 'end');
    const ev = await h.next('shmdump');
    digest = ev.digest as number;
    records += ev.records as number;
    bytes += ev.bytes as number;
  }
  return { digest, records, bytes };
}

/** The helper plan lines that create the objects (before any file or task line). */
export function shmemLines(objects: ShmemImage[]): string[] {
  const KIND = { anon: 0, memfd: 1, unlinked: 2 };
  return objects.map(
    (o) => `shm ${o.id} ${KIND[o.kind]} ${o.size} ${o.seals} ${o.name !== undefined ? Buffer.from(o.name).toString('hex') || '00' : '-'}${o.mode !== undefined ? ` ${o.mode}` : ''}`,
  );
}

/** Bytes of memory contents the image carries: shared memory objects and task pages. */
export function contentBytes(objects: ShmemImage[] | undefined, tasks: TaskImage[]): number {
  const pages = (runs: [number, number][]) => runs.reduce((a, [, n]) => a + n * 4096, 0);
  return (objects ?? []).reduce((s, o) => s + pages(o.runs), 0) + tasks.reduce((s, t) => s + pages(t.pageRuns), 0);
}
