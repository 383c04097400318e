/** fanotify groups and their marks (src/kernel/fds/fanotify.ts; issue 17). */
import { arr, field, int, obj, str } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';
import { linkDeleted } from './inotify.js';

export interface FanotifyMark {
  /** an inode, a mount, a whole filesystem */
  type: 'inode' | 'mount' | 'fs';
  /** FAN_MARK_EVICTABLE, FAN_MARK_IGNORE, FAN_MARK_IGNORED_SURV_MODIFY as fdinfo shows them */
  mflags: number;
  mask: number;
  ignored: number;
  /** the marked file, the mount point, or the filesystem's mount point */
  path: string;
  /** an inode mark of a file deleted since: an open file of the tree (an unlinked file) */
  file?: number;
}

export interface FanotifyFile extends FileBase {
  kind: 'fanotify';
  /** fanotify_init flags and event flags (fdinfo), and the marks */
  fanotify: { init: number; evflags: number; marks: FanotifyMark[] };
}

const TYPES = ['inode', 'mount', 'fs'] as const;
const MFLAGS = 0x200 | 0x400 | 0x40; // FAN_MARK_EVICTABLE | FAN_MARK_IGNORE | FAN_MARK_IGNORED_SURV_MODIFY

export const fanotifyFormat: FileFormat<FanotifyFile> = {
  kind: 'fanotify',
  fields: ['fanotify'],
  read(o, w) {
    const fw = w.at('fanotify');
    const g = obj(o.fanotify!, fw);
    const u32 = (y: Parameters<typeof int>[0], ww: Parameters<typeof int>[1]) => int(y, ww, 0, 0xffffffff);
    const marks = arr(field(g, 'marks', fw, (y) => y), fw.at('marks'), 1 << 16).map((x, k): FanotifyMark => {
      const mw = fw.at('marks').at(k);
      const e = obj(x, mw);
      const type = field(e, 'type', mw, str);
      if (!(TYPES as readonly string[]).includes(type)) mw.at('type').fail('expected inode, mount or fs');
      const mflags = field(e, 'mflags', mw, u32);
      if (mflags & ~MFLAGS) mw.at('mflags').fail('unknown mark flags');
      const path = field(e, 'path', mw, (y, ww) => str(y, ww, 4096));
      if (!path.startsWith('/')) mw.at('path').fail('a marked path must be absolute');
      const m: FanotifyMark = { type: type as FanotifyMark['type'], mflags, mask: field(e, 'mask', mw, u32), ignored: field(e, 'ignored', mw, u32), path };
      if (!m.mask && !m.ignored) mw.fail('a mark with neither a mask nor an ignore mask');
      if (e.file !== undefined) {
        if (m.type !== 'inode') mw.at('file').fail('only an inode mark is of a deleted file');
        m.file = field(e, 'file', mw, (y, ww) => int(y, ww, 0, 0x3fffffff));
      }
      return m;
    });
    return { fanotify: { init: field(g, 'init', fw, u32), evflags: field(g, 'evflags', fw, u32), marks } };
  },
  link(f, w, ctx) {
    f.fanotify.marks.forEach((m, k) => {
      if (m.file !== undefined) linkDeleted(m.file, w.at('fanotify').at('marks').at(k), ctx);
    });
  },
  text: (f) => ` (marks ${f.fanotify.marks.map((m) => `${m.type}:${m.path}${m.file !== undefined ? ' (deleted)' : ''}`).join(', ') || 'none'})`,
};
