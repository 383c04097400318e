/**
 * File locks held by the tree, read from /proc/PID/fdinfo ("lock:" lines, which list the locks
 * set through that open file: flock and OFD locks belong to the open file itself, POSIX record
 * locks to the process that set them, named on the line: processes sharing an fd table all
 * show it). A lease (F_SETLEASE) belongs to the open file too, but the process that set it gets
 * the signal of its break: it is recorded with that task's fd of the file (the task takes it
 * again itself); a lease being broken, delegations and mandatory locks are refused. A task
 * waiting for a lock (a "->" line) is not a lock it holds: its call is restarted instead.
 */
import fs from 'node:fs';
import { UnsupportedError } from '../errors.js';
import type { LockImage } from '../image/types.js';

const LINE = /^lock:\s+\d+:\s+(->\s+)?(\S+)\s+(\S+)\s+(\S+)\s+(-?\d+)\s+\S+\s+(\d+)\s+(\d+|EOF)/;
const KIND: Record<string, LockImage['kind']> = { FLOCK: 'flock', OFDLCK: 'ofd', POSIX: 'posix' };

/** The locks of one open-file object, from every fd of the tree that refers to it (the "lock:"
 * lines of its fdinfo, read once with the fd's other facts, or read here). */
export function locksOf(holders: { pid: number; fd: number; locks?: string[] }[], what: string): LockImage[] {
  const locks: LockImage[] = [];
  const seen = new Set<string>();
  const holderPids = new Set(holders.map((h) => h.pid));
  for (const h of holders) {
    let lines = h.locks;
    if (!lines)
      try {
        lines = fs.readFileSync(`/proc/${h.pid}/fdinfo/${h.fd}`, 'latin1').split('\n');
      } catch {
        continue;
      }
    for (const line of lines) {
      const m = LINE.exec(line);
      if (!m || m[1]) continue; // not a lock line, or a waiter
      if (m[2] === 'LEASE') {
        if (m[3] !== 'ACTIVE')
          throw new UnsupportedError(`${what}: a lease being broken (another process waits to open the file) is not supported`, { pid: h.pid, phase: 'files' });
        if (seen.has('lease')) continue;
        seen.add('lease');
        // the task that set it, if it holds the file, else this holder
        const owner = holders.find((x) => x.pid === Number(m[5])) ?? h;
        locks.push({ kind: 'lease', type: m[4] === 'WRITE' ? 'write' : 'read', start: 0, end: -1, task: owner.pid, fd: owner.fd });
        continue;
      }
      const kind = KIND[m[2]!];
      if (!kind || m[3] !== 'ADVISORY')
        throw new UnsupportedError(`${what}: ${m[3] === 'ADVISORY' ? m[2] : m[3]} ${m[2]} locks are not supported`, { pid: h.pid, phase: 'files' });
      if (m[4] !== 'READ' && m[4] !== 'WRITE') continue;
      // a POSIX lock shows in the fdinfo of every process sharing the fd table (CLONE_FILES):
      // it is the one's that set it (its pid on the line), recorded from its own fdinfo
      if (kind === 'posix' && Number(m[5]) !== h.pid && holderPids.has(Number(m[5]))) continue;
      const lock: LockImage = { kind, type: m[4] === 'READ' ? 'read' : 'write', start: Number(m[6]), end: m[7] === 'EOF' ? -1 : Number(m[7]) };
      if (kind === 'posix') Object.assign(lock, { task: h.pid, fd: h.fd });
      // a flock belongs to the open file, but /proc/locks names the process that took it: that
      // one takes it again (through its own fd of the file) if it holds the file, else this holder
      if (kind === 'flock') {
        const owner = holders.find((x) => x.pid === Number(m[5])) ?? h;
        Object.assign(lock, { task: owner.pid, fd: owner.fd });
      }
      const key = kind === 'posix' ? `${h.pid}:${lock.type}:${lock.start}:${lock.end}` : `${kind}:${lock.type}:${lock.start}:${lock.end}`;
      if (seen.has(key)) continue;
      seen.add(key);
      locks.push(lock);
    }
  }
  return locks;
}

/** start and length as fcntl wants them (0: to the end of the file, and beyond). */
export function lockRange(l: LockImage): [number, number] {
  return [l.start, l.end < 0 ? 0 : l.end - l.start + 1];
}
