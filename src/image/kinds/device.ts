/** Stateless character devices (/dev/null...), reopened by path, or a device node of one that
 * was deleted since, made again (src/kernel/fds/device.ts). */
import { field, int, obj, pathText } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface DeviceFile extends FileBase {
  kind: 'device';
  /** a device node deleted since (path: where it was): made again there with mknod, opened,
   * deleted again (issue 17) */
  node?: { rdev: number; mode: number; uid: number; gid: number };
}

export const deviceFormat: FileFormat<DeviceFile> = {
  kind: 'device',
  fields: ['node'],
  read(o, w, file) {
    pathText(file.path, w.at('path'), true);
    if (o.node === undefined) return {};
    const nw = w.at('node');
    const n = obj(o.node, nw);
    const u32 = (y: Parameters<typeof int>[0], ww: Parameters<typeof int>[1]) => int(y, ww, 0, 0xfffffffe);
    return { node: { rdev: field(n, 'rdev', nw, u32), mode: field(n, 'mode', nw, (y, ww) => int(y, ww, 0, 0o7777)), uid: field(n, 'uid', nw, u32), gid: field(n, 'gid', nw, u32) } };
  },
  text: (f) => (f.node ? ' (a deleted device node, made again)' : ''),
};
