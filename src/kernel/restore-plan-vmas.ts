/** The restore plan's lines for a task's mappings (native/helper/restore/plan.h: `vma`, `vmas`,
 * `pktring`, `aioring`, `shmat`), from its mapping objects or their packed form (format 1.6). */
import { ImageError } from '../errors.js';
import { MAP_ANONYMOUS, MAP_DROPPABLE, MAP_GROWSDOWN, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED } from '../image/format.js';
import { type PackedVmas, packedVma } from '../image/packed-task.js';
import type { ImageFiles, TaskImage } from '../image/types.js';
import { putU64 } from '../image/u64.js';
import { native } from '../native/addon.js';
import { MADV } from './memory.js';
import * as P from './protocol.gen.js';

/** The task's mappings' lines. */
export function vmaLines(t: TaskImage, packed: PackedVmas | undefined, files: ImageFiles): string[] {
  const L: string[] = [];
  const plain = new PlainVmas(L, packed ? packed.n + packed.rest.length : t.vmas.length);
  if (packed) {
    // the same lines from the packed entries, merged with the others in address order
    let i = 0;
    const upTo = (to: number) => {
      while (i < to) {
        i = plain.addPacked(packed.q, i, to);
        if (i < to) vmaLine(packedVma(packed, i++), plain, L, files, t); // shared or droppable: a line of its own
      }
    };
    for (let r = 0; r < packed.rest.length; r++) {
      upTo(packed.restAt[r]!);
      vmaLine(packed.rest[r]!, plain, L, files, t);
    }
    upTo(packed.n);
  } else for (const v of t.vmas) vmaLine(v, plain, L, files, t);
  plain.flush();
  return L;
}

/** A mapping's plan line (a `vma` line, or its entry in a `vmas` block). */
function vmaLine(v: TaskImage['vmas'][number], plain: PlainVmas, L: string[], files: ImageFiles, t: TaskImage): void {
  if (v.kind === 'anon' || v.kind === 'heap' || v.kind === 'stack') {
    if (!v.shm && plain.add(v)) return;
  }
  plain.flush();
  if (v.kind === 'ring') {
    // a packet socket's rings: mapped from the socket (a rawsock file of the image)
    const sock = files.files.find((f) => f.kind === 'rawsock' && f.rawsock.ino === v.ring && f.rawsock.rings);
    if (!sock) throw new ImageError(`process ${t.pid}: mapping ${v.start.toString(16)}-${v.end.toString(16)} names packet socket inode ${v.ring}, which the image does not hold with rings`);
    L.push(P.planPktring({ start: v.start, end: v.end, prot: v.prot, file: sock.id }));
    return;
  }
  if (v.kind === 'aio') {
    L.push(P.planAioring(v.aio ? { start: v.start, end: v.end, head: v.aio.head, tail: v.aio.tail, events: v.aio.events } : { start: v.start, end: v.end }));
    return;
  }
  if (v.shm) {
    L.push(P.planShmat({ start: v.start, end: v.end, prot: v.prot, shmid: v.shm.id, shmflg: v.shm.flags, madv: v.madv }));
    return;
  }
  const droppable = v.madv & MADV.dp!;
  let flags = droppable ? MAP_DROPPABLE : v.shared ? MAP_SHARED : MAP_PRIVATE;
  if (v.kind !== 'file' && v.kind !== 'object') flags |= MAP_ANONYMOUS;
  if (v.kind === 'stack') flags |= MAP_GROWSDOWN;
  if (v.madv & MADV.nr!) flags |= MAP_NORESERVE;
  const path = v.kind === 'object' ? undefined : v.path || undefined;
  // a droppable mapping is wiped on fork and not dumped by its type: no madvise for those
  const madv = droppable ? v.madv & ~(MADV.wf! | MADV.dd!) : v.madv;
  L.push(P.planVma({ start: v.start, end: v.end, prot: v.prot, flags, pgoff: v.pgoff, fill: !!v.fill, madv, path, obj: v.kind === 'object' ? v.obj : undefined }));
}

/** Consecutive mappings without a path or an object, as `vmas` lines of up to VMAS_LINE
 * entries (protocol/schema.mjs): a process of 10,000 mappings made 10,000 `vma` lines, their
 * numbers as decimal text (encoded, then parsed by the helper one by one). The same fields as
 * the `vma` line the loop above makes for them. */
export const VMAS_LINE = 4096;
class PlainVmas {
  /** sized to the task's mappings (a whole line's 160 KB, zeroed, for each task of a tree of
   * 100 with ~30 mappings each was ~9 ms of the checkpoint's check) */
  private readonly q: Uint32Array;
  private n = 0;
  constructor(
    private readonly L: string[],
    mappings: number,
  ) {
    this.q = new Uint32Array(Math.min(VMAS_LINE, Math.max(1, mappings)) * 10);
  }

  /** false: not such a mapping (a `vma` line of its own) */
  add(v: TaskImage['vmas'][number]): boolean {
    if (v.path !== undefined || v.obj !== undefined || v.madv & MADV.dp! || v.shared) return false;
    let flags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (v.kind === 'stack') flags |= MAP_GROWSDOWN;
    if (v.madv & MADV.nr!) flags |= MAP_NORESERVE;
    const q = this.q;
    const at = this.n * 10;
    putU64(q, at, v.start);
    putU64(q, at + 2, v.end);
    putU64(q, at + 4, v.pgoff);
    q[at + 6] = v.prot;
    q[at + 7] = flags;
    q[at + 8] = v.madv;
    q[at + 9] = v.fill ? 1 : 0;
    if (++this.n * 10 === q.length) this.flush();
    return true;
  }

  /** add() of packed entries (image/vma-pack.ts) from `from` on, up to `to` or the first that
   * add() would refuse (shared, droppable): where it stopped. The addon's loop (vmapPlan) makes
   * the entries add() makes; in JavaScript it ran cold, ~5 ms for 10,000 of them. */
  addPacked(p: Uint32Array, from: number, to: number): number {
    let i = from;
    while (i < to) {
      const end = Math.min(to, i + this.q.length / 10 - this.n);
      const stop = native().vmapPlan(p, i, end, this.q, this.n, MADV.dp!, MADV.nr!);
      this.n += stop - i;
      if (this.n * 10 === this.q.length) this.flush();
      i = stop;
      if (stop < end) break;
    }
    return i;
  }

  flush(): void {
    if (!this.n) return;
    this.L.push(P.planVmas({ vmas: new Uint8Array(this.q.buffer, 0, this.n * 40) }));
    this.n = 0;
  }
}

