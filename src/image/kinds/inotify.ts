/** inotify instances and their watches (src/kernel/fds/inotify.ts). */
import { arr, field, int, obj, str } from '../check.js';
import type { FileBase, InotifyWatch } from '../types-files.js';
import type { FileFormat, LinkContext } from './kind.js';
import type { Where } from '../check.js';

export interface InotifyFile extends FileBase {
  kind: 'inotify';
  /** the watches, by watch descriptor */
  inotify?: InotifyWatch[];
}

/** A watch or mark of a file deleted since names an open file of the image that is a content
 * object's (an unlinked file or a removed directory). */
export function linkDeleted(id: number, w: Where, ctx: LinkContext): void {
  const t = ctx.byId.get(id);
  if (!t || !('obj' in t) || t.obj === undefined || t.kind !== 'unlinked') w.at('file').fail(`file ${id} is not an unlinked file or removed directory of the image`);
}

export const inotifyFormat: FileFormat<InotifyFile> = {
  kind: 'inotify',
  fields: ['inotify'],
  read(o, w) {
    if (o.inotify === undefined) return {};
    let prev = 0;
    const inotify = arr(o.inotify, w.at('inotify'), 1 << 20).map((x, k): InotifyWatch => {
      const iw = w.at('inotify').at(k);
      const e = obj(x, iw);
      const wd = field(e, 'wd', iw, (y, ww) => int(y, ww, 1, 0x7fffffff));
      if (wd <= prev) iw.fail('watch descriptors out of order');
      prev = wd;
      const path = field(e, 'path', iw, (y, ww) => str(y, ww, 4096));
      if (!path.startsWith('/')) iw.at('path').fail('a watched path must be absolute');
      const watch: InotifyWatch = { wd, mask: field(e, 'mask', iw, (y, ww) => int(y, ww, 0, 0xffffffff)), path };
      if (e.file !== undefined) watch.file = field(e, 'file', iw, (y, ww) => int(y, ww, 0, 0x3fffffff));
      return watch;
    });
    return { inotify };
  },
  link(f, w, ctx) {
    (f.inotify ?? []).forEach((x, k) => {
      if (x.file !== undefined) linkDeleted(x.file, w.at('inotify').at(k), ctx);
    });
  },
  text: (f) => (f.inotify?.length ? ` (watches ${f.inotify.map((w) => `${w.wd}:${w.path}${w.file !== undefined ? ' (deleted)' : ''}`).join(', ')})` : ''),
};
