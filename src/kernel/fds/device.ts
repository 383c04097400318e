/** Stateless character devices that any process may simply reopen. */
import { UcrError } from '../../errors.js';
import { hex } from '../helper.js';
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';

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

export function isStatelessDevice(rdev: number): boolean {
  return STATELESS.has(devKey(rdev));
}

export const statelessDevice: FdOps<FileOf<'device'>> = {
  kind: 'device',
  matches: (f) => f.stat.isCharacterDevice() && isStatelessDevice(f.stat.rdev),
  dump: (f) => ({ path: STATELESS.get(devKey(f.stat.rdev))!, flags: f.info.flags, pos: 0 }),
  check(file) {
    if (![...STATELESS.values()].includes(file.path))
      throw new UcrError(`device ${file.path}: not a stateless device`, { code: 'EIMAGE', object: file.path });
  },
  plan: (file) => `file ${file.id} path ${hex(file.path)} ${file.flags} 0`,
};
