/**
 * Stateless character devices that any process may simply reopen. A device node of one of them
 * that was deleted while held open (mknod, open, unlink: "PATH (deleted)") is made again on
 * restart at its path with mknod (its mode and owner), opened and deleted again, so the
 * program finds the same kind of file: a node with no links, at that name (issue 17). Making a
 * node needs CAP_MKNOD: an image owned by another user is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UcrError } from '../../errors.js';
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';
import { planFileDevnode, planFilePath } from '../protocol.gen.js';

/** major:minor of the devices whose state is nothing but their identity */
const STATELESS = new Map([
  ['1:3', '/dev/null'],
  ['1:5', '/dev/zero'],
  ['1:7', '/dev/full'],
  ['1:8', '/dev/random'],
  ['1:9', '/dev/urandom'],
]);

function devKey(rdev: number): string {
  return `${(rdev >> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`;
}

const DELETED = ' (deleted)';

export function isStatelessDevice(rdev: number): boolean {
  return STATELESS.has(devKey(rdev));
}

export const statelessDevice: FdOps<FileOf<'device'>> = {
  kind: 'device',
  matches: (f) => f.stat.isCharacterDevice() && isStatelessDevice(f.stat.rdev),
  dump: (f) => {
    if (!f.link.startsWith('/') || !f.link.endsWith(DELETED) || f.stat.nlink > 0) return { path: STATELESS.get(devKey(f.stat.rdev))!, flags: f.info.flags, pos: 0 };
    const st = fs.statSync(`/proc/${f.pid}/fd/${f.fd}`);
    return { path: f.link.slice(0, -DELETED.length), flags: f.info.flags, pos: 0, node: { rdev: f.stat.rdev, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } };
  },
  check(file) {
    if (file.node) {
      if (!isStatelessDevice(file.node.rdev)) throw new UcrError(`device node ${file.path}: not a stateless device`, { code: 'EIMAGE', object: file.path });
      if (!fs.existsSync(path.dirname(file.path)))
        throw new UcrError(`device node ${file.path}: its directory no longer exists, the deleted node cannot be made again`, { code: 'EFILE', object: file.path, phase: 'check' });
      return;
    }
    if (![...STATELESS.values()].includes(file.path))
      throw new UcrError(`device ${file.path}: not a stateless device`, { code: 'EIMAGE', object: file.path });
  },
  privilege: (file) => (file.node ? { who: `file ${file.id} (device node ${file.path}, deleted)`, what: 'making the node again needs CAP_MKNOD' } : undefined),
  plan: (file) =>
    file.node
      ? planFileDevnode({ id: file.id, path: file.path, rdev: file.node.rdev, mode: file.node.mode, uid: file.node.uid, gid: file.node.gid, flags: file.flags })
      : planFilePath({ id: file.id, path: file.path, flags: file.flags, pos: 0 }),
};
