/** Classifies a task's mappings for checkpoint, and checks mapped files on restart. */
import fs from 'node:fs';
import { identityChange } from './identity.js';
import { UcrError, UnsupportedError } from '../errors.js';
import type { SpecialVma, VmaImage } from '../image/types.js';
import { eachSmaps, parseSmaps, type MapsEntry } from './smaps.js';
import { AIO_EVENTS_MAX } from '../image/validate-vmas.js';

export const SPECIAL_NAMES = ['[vvar]', '[vvar_vclock]', '[vdso]', '[vsyscall]'];

const SHM_RDONLY = 0o10000;
const SHM_EXEC = 0o100000;

/** The VmFlags a mapping gets back, by their smaps names, as native/helper/restore/plan.h's MADV_BIT_*
 * defines them: madvise state (hg HUGEPAGE, nh NOHUGEPAGE, dc DONTFORK, wf WIPEONFORK, dd
 * DONTDUMP, sr SEQUENTIAL, rr RANDOM, mg MERGEABLE), mlock (lo; lf: MLOCK_ONFAULT), nr
 * (MAP_NORESERVE), for a shared mapping mw (the file was opened for writing: the mapping may
 * be made writable later), sl (mseal) and dp (MAP_DROPPABLE: the mapping's type, given to mmap). */
export const MADV: Record<string, number> = { hg: 1, nh: 2, dc: 4, wf: 8, dd: 16, sr: 32, rr: 64, mg: 128, lo: 256, lf: 512, nr: 1024, mw: 2048, sl: 4096, dp: 8192 };

const TMPFS_MAGIC = 0x01021994;

export function onTmpfs(path: string): boolean {
  try {
    return Number(fs.statfsSync(path).type) === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

export interface ClassifiedMemory {
  vmas: VmaImage[];
  specials: SpecialVma[];
}

function protOf(perms: string): number {
  return (perms[0] === 'r' ? 1 : 0) | (perms[1] === 'w' ? 2 : 0) | (perms[2] === 'x' ? 4 : 0);
}

/** VmFlags of mappings that cannot be saved, with what they are. */
const REFUSED: [string, string][] = [
  ['ht', 'hugetlb'],
  ['io', 'device I/O'],
  ['pf', 'raw PFN'],
  ['um', 'userfaultfd'],
  ['uw', 'userfaultfd'],
];
const MADV_ENTRIES = Object.entries(MADV);

/** What an AIO ring's mapping keeps (kind 'aio'), read from the task's memory through one open
 * of it: its header (struct aio_ring: id, nr, head, tail, magic) checked, then head, tail and the
 * events between them (restore_aio.c puts them back); undefined for a fresh ring, head and tail
 * 0 (left out: an image older ucr reads). where: the mapping, for the refusals. */
function aioState(pid: number, proc: number, m: MapsEntry, where: string): { head: number; tail: number; events: Buffer } | undefined {
  const fd = fs.openSync(`/proc/${proc}/mem`, 'r');
  try {
    const b = Buffer.alloc(20);
    fs.readSync(fd, b, 0, 20, m.start);
    const nr = b.readUInt32LE(4), head = b.readUInt32LE(8), tail = b.readUInt32LE(12), magic = b.readUInt32LE(16);
    if (magic !== 0xa10a10a1 || nr !== (m.end - m.start - 32) / 32)
      throw new UnsupportedError(`${where}: an AIO ring that is not whole (${nr} events in ${(m.end - m.start) >> 10} KiB: moved or partly unmapped) is not supported`, { pid, phase: 'memory' });
    if (head >= nr || tail >= nr)
      throw new UnsupportedError(`${where}: an AIO ring whose head ${head} or tail ${tail} is not below its ${nr} events (written by the program) is not supported`, { pid, phase: 'memory' });
    const n = (tail - head + nr) % nr;
    if (n > AIO_EVENTS_MAX)
      throw new UnsupportedError(`${where}: an AIO context with ${n} completed events not yet reaped (io_getevents) is not supported: at most ${AIO_EVENTS_MAX} are`, { pid, phase: 'memory' });
    if (!head && !tail) return undefined;
    // the events from head on: one read, or two when they wrap past the ring's end
    const events = Buffer.alloc(n * 32);
    const first = Math.min(n, nr - head);
    if ((first && fs.readSync(fd, events, 0, first * 32, m.start + 32 + head * 32) !== first * 32) || (n > first && fs.readSync(fd, events, first * 32, (n - first) * 32, m.start + 32) !== (n - first) * 32))
      throw new UnsupportedError(`${where}: an AIO ring whose events cannot be read`, { pid, phase: 'memory' });
    return { head, tail, events };
  } finally {
    fs.closeSync(fd);
  }
}

/** The task's mappings as smaps gives them, classified one at a time: no object per mapping but
 * the VmaImage. proc: the task's pid as /proc shows it to ucr (its smaps, an AIO ring's header
 * are read there); aio: the helper's probe of each AIO ring mapped (0: a context of the task's
 * own, else an errno); stats: the mapped files stat'ed so far (a checkpoint's tasks share one:
 * a tree maps the same libraries in every task); smaps: the file's bytes when read already;
 * scan: called with each mapping whose pages must be looked for (mayHoldPrivatePages) as soon
 * as it is classified, in order (the caller asks the helper for their scans meanwhile). */
export function classifyTask(pid: number, proc: number, aio: Map<number, number>, stats = new Map<string, fs.Stats>(), smaps?: Buffer, scan?: (v: VmaImage) => void): ClassifiedMemory {
  const c = classifier(pid, proc, aio, stats);
  eachSmaps(proc, scanning(c, scan), smaps);
  return c.result;
}

/** classifyTask of a task whose smaps the helper sends in parts of whole mappings, in order
 * (native/helper/checkpoint/dump_smaps.c): each part classified as it comes (next: the next one,
 * last: the final one; done: called with a part's bytes once parsed). */
export async function classifyParts(
  pid: number,
  proc: number,
  aio: Map<number, number>,
  stats: Map<string, fs.Stats>,
  next: () => Promise<{ bytes: Buffer; last: boolean }>,
  scan?: (v: VmaImage) => void,
  done?: (b: Buffer) => void,
): Promise<ClassifiedMemory> {
  const c = classifier(pid, proc, aio, stats);
  const add = scanning(c, scan);
  for (;;) {
    const part = await next();
    parseSmaps(part.bytes, add);
    done?.(part.bytes);
    if (part.last) return c.result;
  }
}

/** The classifier's add, with scan called for each mapping classified that may hold private pages. */
function scanning(c: ReturnType<typeof classifier>, scan?: (v: VmaImage) => void): (m: MapsEntry) => void {
  if (!scan) return c.add;
  const { vmas } = c.result;
  return (m: MapsEntry) => {
    const n = vmas.length;
    c.add(m);
    if (vmas.length > n && mayHoldPrivatePages(vmas[n]!)) scan(vmas[n]!);
  };
}

/** A mapped file's path and identity, once per stat (the tasks of a tree map the same files). */
const identities = new WeakMap<fs.Stats, { path: string; file: NonNullable<VmaImage['file']> }>();

/** classifyTask's state, to which mappings are added one at a time (an entry is not kept:
 * eachSmaps gives the same object each time). */
function classifier(pid: number, proc: number, aio: Map<number, number>, stats: Map<string, fs.Stats>): { add: (m: MapsEntry) => void; result: ClassifiedMemory } {
  const vmas: VmaImage[] = [];
  const specials: SpecialVma[] = [];
  // what a VmFlags set means, once per distinct set (eachSmaps shares them between mappings)
  const byFlags = new Map<Set<string>, { refused: string | undefined; madv: number; madvShared: number }>();
  // built only for a refusal (10,000 mappings made 10,000 strings, then closures, for nothing)
  const whereOf = (m: MapsEntry) => `process ${pid} mapping ${m.start.toString(16)}-${m.end.toString(16)} ${m.path || '[anon]'}`;
  const add = (m: MapsEntry): void => {
    if (m.path === '[vsyscall]') return; // fixed kernel page, the same in every process
    if (SPECIAL_NAMES.includes(m.path)) {
      specials.push({ name: m.path, start: m.start, end: m.end });
      return;
    }
    const shared = m.perms[3] === 's';
    let meaning = byFlags.get(m.flags);
    if (!meaning) {
      meaning = { refused: REFUSED.find(([bad]) => m.flags.has(bad))?.[1], madv: 0, madvShared: 0 };
      for (const [f, bit] of MADV_ENTRIES) if (m.flags.has(f)) (meaning.madvShared |= bit), (meaning.madv |= f !== 'mw' ? bit : 0);
      byFlags.set(m.flags, meaning);
    }
    if (meaning.refused) throw new UnsupportedError(`${whereOf(m)}: ${meaning.refused} mappings are not supported yet`, { pid, phase: 'memory' });
    const madv = shared ? meaning.madvShared : meaning.madv;
    const prot = protOf(m.perms);
    if (m.path === '' || m.path === '[heap]' || m.path === '[stack]') {
      if (shared) throw new UnsupportedError(`${whereOf(m)}: shared anonymous memory is not supported yet`, { pid, phase: 'memory' });
      const kind = m.path === '[heap]' ? 'heap' : m.path === '[stack]' || m.flags.has('gd') ? 'stack' : 'anon';
      vmas.push({ start: m.start, end: m.end, prot, shared, pgoff: 0, madv, fill: false, kind }); // no spread: 10,000 of them
      return;
    }
    const base = { start: m.start, end: m.end, prot, shared, pgoff: 0, madv, fill: false };
    if (m.path.startsWith('[')) throw new UnsupportedError(`${whereOf(m)}: special mapping ${m.path} is not supported`, { pid, phase: 'memory' });
    if (/^socket:\[\d+\]$/.test(m.path)) {
      // a packet socket's rings (PACKET_RX_RING/TX_RING), mapped whole: made again with the
      // socket (src/kernel/fds/rawsock.ts) and mapped from it; the socket's inode names it
      if (!shared || m.pgoff !== 0) throw new UnsupportedError(`${whereOf(m)}: a packet socket's rings mapped in part or privately are not supported`, { pid, phase: 'memory' });
      vmas.push({ ...base, madv: 0, kind: 'ring', ring: m.ino });
      return;
    }
    if (m.path.startsWith('anon_inode:[io_uring]')) throw new UnsupportedError(`${whereOf(m)}: io_uring rings are not supported`, { pid, phase: 'memory' });
    if (!m.path.startsWith('/')) throw new UnsupportedError(`${whereOf(m)}: a mapping of ${m.path} is not supported`, { pid, phase: 'memory' });
    if (/^\/SYSV[0-9a-f]{8}( \(deleted\))?$/.test(m.path)) {
      // System V shared memory: the inode number is the segment id (src/kernel/ipc.ts saves
      // the segment); the maximal access (VmFlags mw, me) gives the shmat flags
      const flags = (m.flags.has('mw') ? 0 : SHM_RDONLY) | (m.flags.has('me') ? SHM_EXEC : 0);
      vmas.push({ ...base, kind: 'sysvshm', pgoff: m.pgoff, shm: { id: m.ino, flags } });
      return;
    }
    if (m.path === '/[aio] (deleted)') {
      // an io_setup context's ring: made again with io_setup and moved here, its head, tail and
      // unreaped completions put back (restore_aio.c); requests in flight are not visible
      const own = aio.get(m.start);
      if (own !== 0)
        throw new UnsupportedError(`${whereOf(m)}: an AIO ring whose context is not this process's (inherited through fork: io_getevents ${own === undefined ? 'not asked' : `gives errno ${own}`}) is not supported yet`, { pid, phase: 'memory' });
      const ring = aioState(pid, proc, m, whereOf(m));
      vmas.push({ ...base, madv: 0, kind: 'aio', ...(ring ? { aio: ring } : {}) });
      return;
    }
    if ((shared && m.path === '/dev/zero (deleted)') || m.path.startsWith('/memfd:') || (m.path.startsWith('/') && m.path.endsWith(' (deleted)'))) {
      // a content object (shared anonymous memory, a memfd, a file whose path was unlinked):
      // objects.ts numbers the objects of the tree; until then obj holds the inode
      vmas.push({ ...base, kind: 'object', path: m.path, pgoff: m.pgoff, obj: m.ino });
      return;
    }
    if (m.path.startsWith('/SYSV'))
      throw new UnsupportedError(`${whereOf(m)}: this System V shared memory mapping is not supported`, {
        pid,
        phase: 'memory',
      });
    // a task maps each library several times: one stat per path
    let st = stats.get(m.path);
    if (!st) stats.set(m.path, (st = fs.statSync(m.path)));
    if (st.ino !== m.ino) throw new UnsupportedError(`${whereOf(m)}: the file at this path was replaced since it was mapped`, { pid, phase: 'memory' });
    if (shared && onTmpfs(m.path)) {
      // a file of tmpfs (/dev/shm, shm_open) mapped shared is memory the tree owns: a content
      // object (objects.ts), saved with its contents and created again at its path if gone
      vmas.push({ ...base, kind: 'object', path: m.path, pgoff: m.pgoff, obj: m.ino });
      return;
    }
    // no spread (V8 gives each object spread from base a hidden class of its own: ~250 bytes
    // each, 21,000 of them at 1,000 tasks), and one path and file identity per stat: read only
    let id = identities.get(st);
    if (!id) identities.set(st, (id = { path: m.path, file: { size: st.size, mtimeMs: Math.trunc(st.mtimeMs), ino: st.ino, dev: st.dev } }));
    vmas.push({ start: m.start, end: m.end, prot, shared, pgoff: m.pgoff, madv, fill: false, kind: 'file', path: id.path, file: id.file });
  };
  return { add, result: { vmas, specials } };
}

/** The mappings whose private pages must be looked for in pagemap. */
export function mayHoldPrivatePages(v: VmaImage): boolean {
  // a MAP_DROPPABLE mapping's pages are the kernel's to drop at any time: not saved, they come
  // back as zeros, as the kernel could have made them (CRIU does the same; zdtm maps11)
  return !v.shared && !(v.madv & MADV.dp!);
}

/** On restart, before anything is created: every mapped file is still the same file (same
 * inode on the same device, then same size and mtime). */
export function checkMappedFiles(pid: number, vmas: VmaImage[], seen = new Map<string, fs.Stats | Error>()): void {
  for (const v of vmas) {
    if (v.kind !== 'file' || !v.path || !v.file) continue;
    let st: fs.Stats | Error | undefined = seen.get(v.path); // a tree maps the same libraries many times
    if (!st) {
      try {
        st = fs.statSync(v.path);
      } catch (e) {
        st = e as Error;
      }
      seen.set(v.path, st);
    }
    if (st instanceof Error)
      throw new UcrError(`process ${pid}: mapped file ${v.path} is missing (${(st as NodeJS.ErrnoException).code})`, {
        code: 'EFILE',
        pid,
        object: v.path,
        phase: 'check',
      });
    const replaced = identityChange(st, v.file);
    if (replaced)
      throw new UcrError(`process ${pid}: mapped file ${v.path} was replaced since the checkpoint (${replaced})`, {
        code: 'EFILE',
        pid,
        object: v.path,
        phase: 'check',
      });
    if (st.size !== v.file.size || Math.trunc(st.mtimeMs) !== v.file.mtimeMs)
      throw new UcrError(`process ${pid}: mapped file ${v.path} changed since the checkpoint (size or mtime differ)`, {
        code: 'EFILE',
        pid,
        object: v.path,
        phase: 'check',
      });
  }
}
