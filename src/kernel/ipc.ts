/**
 * System V IPC of a tree: which objects belong to it, their capture (through the helper, which
 * joins the tree's IPC namespace), the restart check (ids and keys free) and the helper's plan
 * lines. Which objects are the tree's:
 *   - shared memory segments attached by a task of the tree (its mappings name the segment id);
 *   - semaphore sets and message queues: all of them when the tree has an IPC namespace of its
 *     own (not the checkpointer's), otherwise those a task of the tree used last: a semaphore
 *     whose last semop/SETVAL pid (GETPID) or a queue whose last msgsnd/msgrcv pid (lspid,
 *     lrpid) is in the tree. (The kernel records no creator pid for them.)
 */
import fs from 'node:fs';
import { UcrError, UnsupportedError } from '../errors.js';
import { errnoText } from '../errno.js';
import { MSG_QUEUE_MAX } from '../image/validate-ipc.js';
import type { ImageIpc, IpcPerm, MsgImage, SemImage, ShmImage, TaskImage } from '../image/types.js';
import { type Helper } from './helper.js';
import { planIpcns, planMsg, planSem, planShm, dumpIpc, dumpMsg, dumpSem, dumpShmdata, type EvIpc } from './protocol.gen.js';
import { PAGE_SIZE } from '../image/format.js';

const IPCMNI_SHIFT = 15;
const SHM_DEST = 0o1000;
const SHM_LOCKED = 0o2000;

type Row = Record<string, number>;

/** /proc/sysvipc/{shm,sem,msg}: one row per object, by column name (key is signed, perms octal). */
export function parseSysvipc(text: string): Row[] {
  const lines = text.split('\n').filter((l) => l.trim());
  const head = (lines.shift() ?? '').trim().split(/\s+/);
  return lines.map((l) => {
    const cells = l.trim().split(/\s+/);
    const row: Row = {};
    head.forEach((h, i) => (row[h] = h === 'perms' ? parseInt(cells[i]!, 8) : Number(cells[i])));
    return row;
  });
}

const NAMES = { shm: ['shared memory segment', 'shmid', 'm'], sem: ['semaphore set', 'semid', 's'], msg: ['message queue', 'msqid', 'q'] } as const;
type Kind = keyof typeof NAMES;

function permOf(r: Row, id: number): IpcPerm {
  return { id, key: r.key!, mode: r.perms! & 0o777, uid: r.uid!, gid: r.gid!, cuid: r.cuid!, cgid: r.cgid! };
}

export interface CapturedIpc {
  ipc: ImageIpc;
  /** where the helper reads each segment's contents from: [pid as ucr sees it, address] */
  shmSources: [number, number][];
}

/** The System V tables of the root's IPC namespace, asked of the helper ahead (the tree is
 * frozen: they are as they will be at the `ipc` phase, which takes the answer): the helper
 * reads them while the coordinator captures the files, instead of one more round trip then. */
export function askIpc(helper: Helper, root: number): Promise<EvIpc> {
  helper.send(dumpIpc({ pid: root }));
  const ev = helper.next('ipc');
  ev.catch(() => {}); // a failure of the helper shows at the next step; taken at the ipc phase
  return ev;
}

/**
 * Captures the tree's System V objects. tasks: the captured tasks; procPid: a task's pid as ucr
 * sees it (for the helper and /proc); asked: askIpc's answer for the tree's root.
 */
export async function captureIpc(helper: Helper, tasks: TaskImage[], procPid: (imagePid: number) => number, asked: Promise<EvIpc>): Promise<CapturedIpc> {
  const nsOf = (t: TaskImage) => fs.readlinkSync(`/proc/${procPid(t.pid)}/ns/ipc`);
  const ns = nsOf(tasks[0]!);
  for (const t of tasks)
    if (nsOf(t) !== ns)
      throw new UnsupportedError(`process ${t.pid} is in another IPC namespace than process ${tasks[0]!.pid}: a tree in several IPC namespaces is not supported`, {
        pid: t.pid,
        phase: 'ipc',
      });
  const attached = tasks.flatMap((t) => t.vmas.filter((v) => v.shm).map((v) => ({ t, v })));
  const ev = await asked;
  const own = ev.own === 1;
  const table = (k: Kind) => parseSysvipc(Buffer.from(ev[k] as string, 'hex').toString('latin1'));
  const inTree = new Set(tasks.map((t) => procPid(t.pid)));

  const shm: ShmImage[] = [];
  const shmSources: [number, number][] = [];
  const shmRows = new Map(table('shm').map((r) => [r.shmid!, r]));
  for (const { t, v } of attached) {
    const id = v.shm!.id;
    const r = shmRows.get(id);
    const where = `process ${t.pid} mapping ${v.start.toString(16)}-${v.end.toString(16)}`;
    if (!r) throw new UnsupportedError(`${where}: System V segment ${id} is not listed in its IPC namespace`, { pid: t.pid, phase: 'ipc' });
    const size = r.size!;
    if (v.pgoff !== 0 || v.end - v.start !== Math.ceil(size / PAGE_SIZE) * PAGE_SIZE)
      throw new UnsupportedError(`${where}: System V segment ${id} (${size} bytes) is only partly mapped there (munmap or mremap of part of it): not supported`, {
        pid: t.pid,
        phase: 'ipc',
      });
    if (shm.some((s) => s.id === id)) continue;
    const destroyed = (r.perms! & SHM_DEST) !== 0;
    shm.push({ ...permOf(r, id), key: destroyed ? 0 : r.key!, size, destroyed, locked: (r.perms! & SHM_LOCKED) !== 0 });
    shmSources.push([procPid(t.pid), v.start]);
  }

  const sem: SemImage[] = [];
  for (const r of table('sem')) {
    helper.send(dumpSem({ id: r.semid!, nsems: r.nsems! }));
    const s = await helper.next('sem');
    if (s.denied) {
      // another user's set (or removed meanwhile): the tree cannot be its last user
      if (own) throw new UnsupportedError(`semaphore set ${r.semid} of the tree's IPC namespace cannot be read: ${errnoText(s.denied)}`, { phase: 'ipc' });
      continue;
    }
    if (own || (s.pids ?? []).some((p) => inTree.has(p))) sem.push({ ...permOf(r, r.semid!), values: s.values ?? [] });
  }

  const msg: MsgImage[] = [];
  for (const r of table('msg')) {
    if (!own && !inTree.has(r.lspid!) && !inTree.has(r.lrpid!)) continue;
    if (r.cbytes! > MSG_QUEUE_MAX)
      throw new UnsupportedError(`message queue ${r.msqid}: ${r.cbytes} queued bytes, more than the ${MSG_QUEUE_MAX} ucr saves`, { phase: 'ipc' });
    helper.send(dumpMsg({ id: r.msqid! }));
    const m = await helper.next('msg');
    const messages = m.messages.map(([type, data]) => {
      const t = BigInt(type);
      return { type: t <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(t) : t, data: new Uint8Array(Buffer.from(data, 'hex')) };
    });
    msg.push({ ...permOf(r, r.msqid!), qbytes: m.qbytes, messages });
  }
  return { ipc: { ownNamespace: own, shm, sem, msg }, shmSources };
}

/** Writes every segment's contents as SHM records (helper); returns records, bytes, digest. */
export async function writeShmData(helper: Helper, c: CapturedIpc, digest: number): Promise<{ records: number; bytes: number; digest: number }> {
  let records = 0;
  let bytes = 0;
  for (const [i, seg] of c.ipc.shm.entries()) {
    const [pid, addr] = c.shmSources[i]!;
    helper.send(dumpShmdata({ pid, addr, size: seg.size, seg: i, seed: digest }));
    const ev = await helper.next('shmdata');
    records += ev.records;
    bytes += ev.bytes;
    digest = ev.digest;
  }
  return { records, bytes, digest };
}

export interface IpcRestoreOptions {
  /** a new IPC namespace for the tree: nothing can collide */
  ipcns: boolean;
  /** --skip ipc: no object of the namespace is recreated (see ipcLines) */
  skip: boolean;
}

function readTable(k: Kind): Row[] {
  try {
    return parseSysvipc(fs.readFileSync(`/proc/sysvipc/${k}`, 'latin1'));
  } catch {
    return [];
  }
}

/** On restart into the caller's IPC namespace: every id (its slot) and key must be free. */
export function checkIpcFree(ipc: ImageIpc, o: IpcRestoreOptions): void {
  if (o.ipcns || o.skip) return;
  for (const k of ['shm', 'sem', 'msg'] as Kind[]) {
    const [what, idCol, flag] = NAMES[k];
    const rows = readTable(k);
    for (const x of ipc[k]) {
      const name = `${what} ${x.id}${x.key ? ` (key 0x${(x.key >>> 0).toString(16)})` : ''}`;
      const hint = (taken: number) => `remove it (ipcrm -${flag} ${taken}) or restart with --ipcns (or --skip ipc)`;
      const slot = rows.find((r) => r[idCol]! % (1 << IPCMNI_SHIFT) === x.id % (1 << IPCMNI_SHIFT));
      if (slot)
        throw new UcrError(`${name}: id ${x.id} is taken in this IPC namespace${slot[idCol] === x.id ? '' : ` (its slot holds ${slot[idCol]})`}: ${hint(slot[idCol]!)}`, {
          code: 'EEXIST',
          object: `${k} ${x.id}`,
          phase: 'check',
        });
      const keyed = x.key !== 0 && rows.find((r) => r.key === x.key);
      if (keyed)
        throw new UcrError(`${name}: key 0x${(x.key >>> 0).toString(16)} is taken in this IPC namespace by ${what} ${keyed[idCol]}: ${hint(keyed[idCol]!)}`, {
          code: 'EEXIST',
          object: `${k} ${x.id}`,
          phase: 'check',
        });
    }
  }
}

function messageBytes(m: MsgImage): Uint8Array {
  if (!m.messages.length) return new Uint8Array();
  const parts = m.messages.flatMap((e) => {
    const h = Buffer.alloc(12);
    h.writeBigUInt64LE(BigInt(e.type), 0);
    h.writeUInt32LE(e.data.length, 8);
    return [h, Buffer.from(e.data)];
  });
  return Buffer.concat(parts);
}

/**
 * The helper's plan lines (native/helper/restore/plan.h). With skip, semaphore sets and queues are not
 * recreated, and each segment the tree has attached comes back as a new private segment at any
 * id, already marked for destruction: the tasks' memory is as it was and still shared, but the
 * namespace holds none of the tree's ids or keys.
 */
export function ipcLines(ipc: ImageIpc, o: IpcRestoreOptions): string[] {
  const L = [planIpcns({ value: !!o.ipcns })];
  const perm = (x: IpcPerm, key = x.key) => ({ id: x.id, key, mode: x.mode, uid: x.uid, gid: x.gid, cuid: x.cuid, cgid: x.cgid });
  for (const s of ipc.shm)
    L.push(o.skip ? planShm({ ...perm(s, 0), size: s.size, destroyed: true, locked: !!s.locked, keep: false }) : planShm({ ...perm(s), size: s.size, destroyed: !!s.destroyed, locked: !!s.locked, keep: true }));
  if (o.skip) return L;
  for (const s of ipc.sem) L.push(planSem({ ...perm(s), values: s.values }));
  for (const m of ipc.msg) L.push(planMsg({ ...perm(m), qbytes: m.qbytes, data: messageBytes(m) }));
  return L;
}
